import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import {
  readTemplates as readTemplateFolder,
  readTemplateDirs as readTemplateFolders,
  shippedTemplatesDir,
  type TemplateFile,
  TemplateFilesError,
} from "../runtime/templateFiles";
import { childOf, type TidingsComponentOptions, TidingsError, type Transform } from "./common";

export type { TemplateFile };

export interface TemplatesBucketArgs {
  /** The stack's KMS key: objects are encrypted with it (SSE-KMS, with an S3 bucket key). */
  kmsKeyArn: pulumi.Input<string>;
  /**
   * Folder holding `<type>/<channel>.json` templates (`{ "subject"?, "text", "html"? }`, mustache).
   * Each file becomes the object `templates/<type>/<channel>.json`; every file is checked at preview
   * time, so a broken template fails `pulumi preview`, not a notification.
   * @default the repository's `templates/` folder
   * @example templatesDir: path.join(__dirname, "my-templates")
   */
  templatesDir?: string;
  /**
   * Let `pulumi destroy` delete the bucket with its objects and their old versions.
   * @default false
   */
  forceDestroy?: boolean;
  /**
   * More folders of templates in the same layout, read after `templatesDir`: a channel or type added in
   * your own stack brings its templates here; a file at the same `<type>/<channel>.json` replaces the
   * earlier folder's.
   * @example extraTemplatesDirs: [path.join(__dirname, "templates")]
   */
  extraTemplatesDirs?: string[];
}

/** The resources of a TemplatesBucket a transform can change (pass as the `transform` option). */
export interface TemplatesBucketTransform {
  bucket?: Transform<aws.s3.BucketArgs>;
  encryption?: Transform<aws.s3.BucketServerSideEncryptionConfigurationArgs>;
  publicAccessBlock?: Transform<aws.s3.BucketPublicAccessBlockArgs>;
  versioning?: Transform<aws.s3.BucketVersioningArgs>;
  /** Every template object. */
  object?: Transform<aws.s3.BucketObjectv2Args>;
}

/**
 * The private S3 bucket the notification service reads templates from: SSE-KMS with the stack key,
 * every kind of public access blocked, versioning on (a bad template edit can be rolled back), and one
 * object per template file.
 *
 * @example
 * const templates = new TemplatesBucket("templates", { kmsKeyArn: key.arn });
 *
 * @example
 * // Your own templates, one folder per notification type:
 * new TemplatesBucket("templates", { kmsKeyArn: key.arn, templatesDir: "./notification-templates" });
 */
export class TemplatesBucket extends pulumi.ComponentResource {
  readonly bucket: aws.s3.Bucket;
  readonly bucketName: pulumi.Output<string>;
  readonly arn: pulumi.Output<string>;
  readonly objects: aws.s3.BucketObjectv2[];
  /** The template files uploaded, by S3 key. */
  readonly templates: TemplateFile[];

  constructor(name: string, args: TemplatesBucketArgs, opts?: TidingsComponentOptions<TemplatesBucketTransform>) {
    super("tidings:index:TemplatesBucket", name, {}, opts);
    const withTransform = childOf(this);
    const transform = opts?.transform ?? {};
    const templates = readTemplateDirs([args.templatesDir ?? defaultTemplatesDir(), ...(args.extraTemplatesDirs ?? [])]);
    const bucket = createBucket();
    const dependsOn = [createEncryption(), createPublicAccessBlock(), createVersioning()];
    const objects = templates.map(uploadTemplate);

    this.bucket = bucket;
    this.bucketName = bucket.bucket;
    this.arn = bucket.arn;
    this.objects = objects;
    this.templates = templates;
    this.registerOutputs({ bucketName: this.bucketName, arn: this.arn, keys: templates.map((t) => t.key) });

    function createBucket() {
      return new aws.s3.Bucket(...withTransform(transform.bucket, name, { forceDestroy: args.forceDestroy ?? false }));
    }

    function createEncryption() {
      return new aws.s3.BucketServerSideEncryptionConfiguration(
        ...withTransform(transform.encryption, `${name}-encryption`, {
          bucket: bucket.id,
          rules: [
            { applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: args.kmsKeyArn }, bucketKeyEnabled: true },
          ],
        }),
      );
    }

    function createPublicAccessBlock() {
      return new aws.s3.BucketPublicAccessBlock(
        ...withTransform(transform.publicAccessBlock, `${name}-public-access`, {
          bucket: bucket.id,
          blockPublicAcls: true,
          blockPublicPolicy: true,
          ignorePublicAcls: true,
          restrictPublicBuckets: true,
        }),
      );
    }

    function createVersioning() {
      return new aws.s3.BucketVersioning(
        ...withTransform(transform.versioning, `${name}-versioning`, {
          bucket: bucket.id,
          versioningConfiguration: { status: "Enabled" },
        }),
      );
    }

    function uploadTemplate(template: TemplateFile) {
      // Written after encryption is configured, so no object is ever stored under the default key.
      return new aws.s3.BucketObjectv2(
        ...withTransform(
          transform.object,
          `${name}-${template.type}-${template.channel}`,
          {
            bucket: bucket.id,
            key: template.key,
            content: template.content,
            contentType: "application/json",
            serverSideEncryption: "aws:kms",
            kmsKeyId: args.kmsKeyArn,
            bucketKeyEnabled: true,
          },
          { dependsOn },
        ),
      );
    }
  }
}

/** The repository's `templates/` folder. */
export const defaultTemplatesDir = shippedTemplatesDir;

/** Reads every folder in order (runtime/templateFiles.ts); a problem is a TidingsError naming each file. */
export function readTemplateDirs(dirs: string[]): TemplateFile[] {
  return asTidingsError(() => readTemplateFolders(dirs));
}

/** Reads and checks every `<type>/<channel>.json` under `dir`; a problem is a TidingsError naming each file. */
export function readTemplates(dir: string): TemplateFile[] {
  return asTidingsError(() => readTemplateFolder(dir));
}

function asTidingsError<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof TemplateFilesError) throw new TidingsError(`TemplatesBucket: ${error.message}`);
    throw error;
  }
}
