/**
 * Quiet hours in the user's own zone: whether a moment is inside the window, and when it ends. The
 * expected ends are worked out by hand from each zone's offset in December (Berlin UTC+1, New York UTC−5).
 */
import { expect } from "chai";
import { isTimeZone, quietUntil } from "../runtime/quietHours";

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

describe("quiet hours", () => {
  it("holds inside a window that crosses midnight, until its end the next morning", () => {
    const night = { start: "22:00", end: "07:00", timeZone: "UTC" };
    expect(iso(quietUntil(night, at("2026-12-07T23:30:00Z")))).to.equal("2026-12-08T07:00:00.000Z");
    expect(iso(quietUntil(night, at("2026-12-08T03:15:30Z")))).to.equal("2026-12-08T07:00:00.000Z");
    expect(quietUntil(night, at("2026-12-07T12:00:00Z"))).to.equal(undefined);
    // The start is inside, the end is not.
    expect(iso(quietUntil(night, at("2026-12-07T22:00:00Z")))).to.equal("2026-12-08T07:00:00.000Z");
    expect(quietUntil(night, at("2026-12-08T07:00:00Z"))).to.equal(undefined);
  });

  it("reads the clock of the user's zone", () => {
    const berlin = { start: "22:00", end: "07:00", timeZone: "Europe/Berlin" };
    // 21:30 UTC is 22:30 in Berlin: quiet until 07:00 Berlin, 06:00 UTC.
    expect(iso(quietUntil(berlin, at("2026-12-07T21:30:00Z")))).to.equal("2026-12-08T06:00:00.000Z");
    // 21:30 Berlin is not quiet yet.
    expect(quietUntil(berlin, at("2026-12-07T20:30:00Z"))).to.equal(undefined);
    const office = { start: "09:00", end: "17:00", timeZone: "America/New_York" };
    // 15:00 UTC is 10:00 in New York: until 17:00 there, 22:00 UTC.
    expect(iso(quietUntil(office, at("2026-12-07T15:00:00Z")))).to.equal("2026-12-07T22:00:00.000Z");
  });

  it("has no window when start and end are the same, and knows IANA zones from anything else", () => {
    expect(quietUntil({ start: "08:00", end: "08:00", timeZone: "UTC" }, at("2026-12-07T08:00:00Z"))).to.equal(undefined);
    expect(isTimeZone("Europe/Berlin")).to.equal(true);
    expect(isTimeZone("Mars/Olympus_Mons")).to.equal(false);
    expect(isTimeZone("")).to.equal(false);
    expect(isTimeZone(1)).to.equal(false);
  });
});
