import { expect } from "chai";
import { matchesPattern, patternProblems, validatePattern } from "../local/eventPattern";

const event = {
  version: "0",
  id: "e-1",
  "detail-type": "notification.email",
  source: "tidings",
  account: "000000000000",
  time: "2026-11-22T10:00:00Z",
  region: "us-east-1",
  resources: ["arn:aws:sqs:us-east-1:000000000000:a", "arn:aws:sqs:us-east-1:000000000000:b"],
  detail: {
    eventId: "evt-42",
    userId: "Alice",
    channel: "email",
    kind: "actionable",
    attempts: 3,
    ratio: 0.5,
    urgent: true,
    note: null,
    empty: "",
    tags: ["billing", "weekly"],
    noTags: [],
    sourceIp: "10.0.3.7",
    sourceIp6: "2001:db8::1",
    file: "reports/2026/summary.pdf",
    address: { email: "alice@example.com", country: "DE" },
    devices: [
      { platform: "apns", active: false },
      { platform: "fcm", active: true },
    ],
  },
};

/** Each row: pattern, whether it must match `event`, and why. */
function cases(rows: [string, object, boolean][]): void {
  for (const [name, pattern, expected] of rows) {
    it(`${expected ? "matches" : "does not match"}: ${name}`, () => {
      expect(matchesPattern(pattern, event), JSON.stringify(pattern)).to.equal(expected);
    });
  }
}

describe("event patterns (local EventBridge matcher)", () => {
  describe("exact values, OR and nesting", () => {
    cases([
      ["exact source", { source: ["tidings"] }, true],
      ["exact source, other value", { source: ["billing"] }, false],
      ["array is OR", { "detail-type": ["notification.sms", "notification.email"] }, true],
      ["array is OR, none present", { "detail-type": ["notification.sms", "notification.push"] }, false],
      ["all fields must match (AND)", { source: ["tidings"], "detail-type": ["notification.sms"] }, false],
      ["nested object", { detail: { address: { country: ["DE"] } } }, true],
      ["nested object, other value", { detail: { address: { country: ["FR"] } } }, false],
      ["case-sensitive by default", { detail: { userId: ["alice"] } }, false],
      ["number equals number", { detail: { attempts: [3] } }, true],
      ["number does not equal its string", { detail: { attempts: ["3"] } }, false],
      ["string does not equal a number", { detail: { eventId: [42] } }, false],
      ["boolean", { detail: { urgent: [true] } }, true],
      ["boolean, other value", { detail: { urgent: [false] } }, false],
      ["null matches null", { detail: { note: [null] } }, true],
      ["null does not match a missing field", { detail: { missing: [null] } }, false],
      ["null does not match an empty string", { detail: { empty: [null] } }, false],
      ["empty string matches empty string", { detail: { empty: [""] } }, true],
      ["empty string does not match null", { detail: { note: [""] } }, false],
      ["a missing field never equals a value", { detail: { missing: ["x"] } }, false],
      ["pattern field on a scalar treats it as missing", { detail: { userId: { first: ["A"] } } }, false],
    ]);
  });

  describe("arrays in events", () => {
    cases([
      ["any element of an event array", { detail: { tags: ["weekly"] } }, true],
      ["no element of an event array", { detail: { tags: ["daily"] } }, false],
      ["resources array", { resources: ["arn:aws:sqs:us-east-1:000000000000:b"] }, true],
      ["field inside an array of objects", { detail: { devices: { platform: ["fcm"] } } }, true],
      ["all sub-fields must match the same element", { detail: { devices: { platform: ["fcm"], active: [true] } } }, true],
      ["sub-fields from different elements do not match", { detail: { devices: { platform: ["apns"], active: [true] } } }, false],
    ]);
  });

  describe("prefix and suffix", () => {
    cases([
      ["prefix", { detail: { file: [{ prefix: "reports/" }] } }, true],
      ["prefix, not at the start", { detail: { file: [{ prefix: "2026" }] } }, false],
      ["prefix is case-sensitive", { detail: { file: [{ prefix: "Reports/" }] } }, false],
      ["prefix equals-ignore-case", { detail: { file: [{ prefix: { "equals-ignore-case": "REPORTS/" } }] } }, true],
      ["prefix equals-ignore-case, other prefix", { detail: { file: [{ prefix: { "equals-ignore-case": "LOGS/" } }] } }, false],
      ["suffix", { detail: { file: [{ suffix: ".pdf" }] } }, true],
      ["suffix, other", { detail: { file: [{ suffix: ".png" }] } }, false],
      ["suffix equals-ignore-case", { detail: { file: [{ suffix: { "equals-ignore-case": ".PDF" } }] } }, true],
      ["prefix on a number does not match", { detail: { attempts: [{ prefix: "3" }] } }, false],
      ["prefix in an event array", { detail: { tags: [{ prefix: "bill" }] } }, true],
      ["empty prefix matches any string", { detail: { empty: [{ prefix: "" }] } }, true],
    ]);
  });

  describe("anything-but", () => {
    cases([
      ["single value", { detail: { channel: [{ "anything-but": "sms" }] } }, true],
      ["single value, excluded", { detail: { channel: [{ "anything-but": "email" }] } }, false],
      ["list", { detail: { channel: [{ "anything-but": ["sms", "push"] }] } }, true],
      ["list, excluded", { detail: { channel: [{ "anything-but": ["sms", "email"] }] } }, false],
      ["number", { detail: { attempts: [{ "anything-but": 5 }] } }, true],
      ["number, excluded", { detail: { attempts: [{ "anything-but": [1, 3] }] } }, false],
      ["prefix", { detail: { file: [{ "anything-but": { prefix: "logs/" } }] } }, true],
      ["prefix, excluded", { detail: { file: [{ "anything-but": { prefix: "reports/" } }] } }, false],
      ["suffix", { detail: { file: [{ "anything-but": { suffix: ".png" } }] } }, true],
      ["suffix, excluded", { detail: { file: [{ "anything-but": { suffix: ".pdf" } }] } }, false],
      ["equals-ignore-case", { detail: { userId: [{ "anything-but": { "equals-ignore-case": "BOB" } }] } }, true],
      ["equals-ignore-case, excluded", { detail: { userId: [{ "anything-but": { "equals-ignore-case": "ALICE" } }] } }, false],
      [
        "equals-ignore-case list, excluded",
        { detail: { userId: [{ "anything-but": { "equals-ignore-case": ["bob", "ALICE"] } }] } },
        false,
      ],
      ["wildcard", { detail: { file: [{ "anything-but": { wildcard: "logs/*" } }] } }, true],
      ["wildcard, excluded", { detail: { file: [{ "anything-but": { wildcard: "reports/*.pdf" } }] } }, false],
      ["does not match a missing field", { detail: { missing: [{ "anything-but": "x" }] } }, false],
      ["event array: one element is not excluded", { detail: { tags: [{ "anything-but": "billing" }] } }, true],
      ["event array: every element excluded", { detail: { tags: [{ "anything-but": ["billing", "weekly"] }] } }, false],
    ]);
  });

  describe("numeric", () => {
    cases([
      ["greater than", { detail: { attempts: [{ numeric: [">", 2] }] } }, true],
      ["greater than, equal value", { detail: { attempts: [{ numeric: [">", 3] }] } }, false],
      ["at least", { detail: { attempts: [{ numeric: [">=", 3] }] } }, true],
      ["less than", { detail: { attempts: [{ numeric: ["<", 3] }] } }, false],
      ["at most", { detail: { attempts: [{ numeric: ["<=", 3] }] } }, true],
      ["equals", { detail: { attempts: [{ numeric: ["=", 3] }] } }, true],
      ["equals, decimals", { detail: { ratio: [{ numeric: ["=", 0.5] }] } }, true],
      ["range inside", { detail: { ratio: [{ numeric: [">", 0, "<=", 1] }] } }, true],
      ["range outside", { detail: { attempts: [{ numeric: [">", 0, "<", 3] }] } }, false],
      ["not on a numeric string", { detail: { eventId: [{ numeric: [">", 0] }] } }, false],
      ["not on a missing field", { detail: { missing: [{ numeric: [">", 0] }] } }, false],
    ]);
  });

  describe("exists", () => {
    cases([
      ["exists: true on a present field", { detail: { userId: [{ exists: true }] } }, true],
      ["exists: true on a missing field", { detail: { missing: [{ exists: true }] } }, false],
      ["exists: false on a missing field", { detail: { missing: [{ exists: false }] } }, true],
      ["exists: false on a present field", { detail: { userId: [{ exists: false }] } }, false],
      ["exists: true on a null value", { detail: { note: [{ exists: true }] } }, true],
      ["exists: false on an empty array", { detail: { noTags: [{ exists: false }] } }, true],
      ["exists: true on an empty array", { detail: { noTags: [{ exists: true }] } }, false],
      ["exists: true on an object (not a leaf)", { detail: { address: [{ exists: true }] } }, false],
      ["exists: false under a missing parent", { detail: { nothing: { deeper: [{ exists: false }] } } }, true],
      ["exists: false inside array elements", { detail: { devices: { token: [{ exists: false }] } } }, true],
    ]);
  });

  describe("equals-ignore-case, wildcard, cidr", () => {
    cases([
      ["equals-ignore-case", { detail: { userId: [{ "equals-ignore-case": "aLiCe" }] } }, true],
      ["equals-ignore-case, other", { detail: { userId: [{ "equals-ignore-case": "alic" }] } }, false],
      ["wildcard middle", { detail: { file: [{ wildcard: "reports/*/summary.pdf" }] } }, true],
      ["wildcard must cover the whole value", { detail: { file: [{ wildcard: "reports/*/summary" }] } }, false],
      ["wildcard several stars", { detail: { file: [{ wildcard: "*2026*.pdf" }] } }, true],
      ["wildcard without stars is exact", { detail: { channel: [{ wildcard: "email" }] } }, true],
      ["wildcard regexp characters are literal", { detail: { file: [{ wildcard: "reports/2026/summary.pd." }] } }, false],
      ["cidr IPv4 inside", { detail: { sourceIp: [{ cidr: "10.0.0.0/16" }] } }, true],
      ["cidr IPv4 outside", { detail: { sourceIp: [{ cidr: "10.0.4.0/24" }] } }, false],
      ["cidr IPv6 inside", { detail: { sourceIp6: [{ cidr: "2001:db8::/32" }] } }, true],
      ["cidr IPv6 range on IPv4 address", { detail: { sourceIp: [{ cidr: "2001:db8::/32" }] } }, false],
      ["cidr on a non-address", { detail: { userId: [{ cidr: "10.0.0.0/8" }] } }, false],
    ]);

    it("escaped star is a literal star", () => {
      expect(matchesPattern({ a: [{ wildcard: "x\\*y" }] }, { a: "x*y" })).to.equal(true);
      expect(matchesPattern({ a: [{ wildcard: "x\\*y" }] }, { a: "xzzy" })).to.equal(false);
      expect(matchesPattern({ a: [{ wildcard: "c:\\\\*" }] }, { a: "c:\\temp" })).to.equal(true);
    });
  });

  describe("$or", () => {
    cases([
      [
        "either branch",
        { source: ["tidings"], $or: [{ detail: { channel: ["sms"] } }, { detail: { attempts: [{ numeric: [">", 2] }] } }] },
        true,
      ],
      [
        "no branch",
        { source: ["tidings"], $or: [{ detail: { channel: ["sms"] } }, { detail: { attempts: [{ numeric: [">", 5] }] } }] },
        false,
      ],
      [
        "branch matches but sibling field fails",
        { source: ["billing"], $or: [{ detail: { channel: ["email"] } }, { region: ["eu-west-1"] }] },
        false,
      ],
      ["nested $or", { detail: { $or: [{ channel: ["push"] }, { address: { country: ["DE"] } }] } }, true],
    ]);
  });

  describe("validation", () => {
    const invalid: [string, unknown, RegExp][] = [
      ["not an object", "source", /must be a JSON object/],
      ["empty pattern", {}, /empty/],
      ["a bare value instead of an array", { source: "tidings" }, /"source" must be an array of values \(e\.g\. "source": \["tidings"\]\)/],
      ["an empty array", { source: [] }, /"source" is an empty array/],
      ["an unknown matcher", { detail: { x: [{ startsWith: "a" }] } }, /detail\.x\[0\] must have exactly one of prefix/],
      ["two matchers in one object", { x: [{ prefix: "a", suffix: "b" }] }, /exactly one of/],
      ["a bad numeric operator", { x: [{ numeric: ["=>", 1] }] }, /"=>" is not one of <, <=, =, >, >=/],
      ["numeric without a number", { x: [{ numeric: [">", "1"] }] }, /needs a finite number/],
      ["numeric odd length", { x: [{ numeric: [">", 1, "<"] }] }, /operator\/number pairs/],
      ["numeric two lower bounds", { x: [{ numeric: [">", 1, ">=", 2] }] }, /more than one lower bound/],
      ["numeric empty range", { x: [{ numeric: [">", 5, "<", 1] }] }, /lower bound 5 must be below the upper bound 1/],
      ["numeric = with another operator", { x: [{ numeric: ["=", 1, "<", 5] }] }, /"=" cannot be combined/],
      ["exists not boolean", { x: [{ exists: "yes" }] }, /x\[0\]\.exists must be true or false/],
      ["prefix not a string", { x: [{ prefix: 5 }] }, /x\[0\]\.prefix must be a string/],
      ["anything-but null", { x: [{ "anything-but": null }] }, /x\[0\]\.anything-but must be a string, a number/],
      ["anything-but unknown form", { x: [{ "anything-but": { exists: true } }] }, /anything-but must be/],
      ["anything-but empty list", { x: [{ "anything-but": [] }] }, /at least one string or number/],
      ["wildcard with consecutive stars", { x: [{ wildcard: "a**b" }] }, /consecutive "\*"/],
      ["wildcard with a bad escape", { x: [{ wildcard: "a\\b" }] }, /backslash may only escape/],
      ["cidr without a prefix length", { x: [{ cidr: "10.0.0.1" }] }, /CIDR notation/],
      ["cidr prefix too long", { x: [{ cidr: "10.0.0.0/33" }] }, /CIDR notation/],
      ["$or not an array of objects", { $or: ["a", "b"] }, /"\$or" must be a non-empty array of sub-patterns/],
      ["object values nested wrongly", { detail: { y: 5 } }, /"detail\.y" must be an array of values/],
      // The four forms EventBridge refuses that the local bus used to accept (issue 9, item 10).
      [
        "anything-but mixing strings and numbers",
        { x: [{ "anything-but": ["a", 1] }] },
        /either all values are number or string, mixed type is not supported/,
      ],
      ["anything-but with an empty prefix", { x: [{ "anything-but": { prefix: "" } }] }, /Null prefix\/suffix not allowed/],
      [
        "anything-but with an empty suffix in a list",
        { x: [{ "anything-but": { suffix: ["a", ""] } }] },
        /Null prefix\/suffix not allowed/,
      ],
      ["a numeric range with the upper bound first", { x: [{ numeric: ["<", 10, ">", 5] }] }, /Too many elements in numeric expression/],
      ["$or with a single alternative", { $or: [{ source: ["tidings"] }] }, /\$or must have at least 2 alternatives/],
    ];
    for (const [name, pattern, message] of invalid) {
      it(`rejects ${name}`, () => {
        expect(() => validatePattern(pattern)).to.throw(message);
        expect(() => matchesPattern(pattern, event)).to.throw(/Invalid event pattern/);
      });
    }

    it("lists every problem at once, each with its path", () => {
      const problems = patternProblems({ source: "tidings", detail: { n: [{ numeric: ["<", "x"] }], t: [] } });
      expect(problems).to.have.length(3);
      expect(problems.join("\n"))
        .to.match(/"source"/)
        .and.match(/detail\.n\[0\]\.numeric/)
        .and.match(/"detail\.t"/);
    });

    it("accepts every documented form", () => {
      expect(() =>
        validatePattern({
          source: ["tidings", null, "", 1, true],
          detail: {
            a: [{ prefix: "x" }, { prefix: { "equals-ignore-case": "x" } }, { suffix: { "equals-ignore-case": "y" } }],
            b: [{ "anything-but": ["a", "b"] }, { "anything-but": { prefix: ["p", "q"] } }, { "anything-but": { wildcard: "*x" } }],
            c: [{ numeric: [">", 0, "<=", 5] }, { numeric: ["=", 3.5] }, { exists: false }],
            d: [{ cidr: "fd00::/8" }, { wildcard: "a*b\\*" }, { "equals-ignore-case": "Z" }],
            $or: [{ e: ["1"] }, { f: { g: ["2"] } }],
          },
        }),
      ).not.to.throw();
    });
  });
});
