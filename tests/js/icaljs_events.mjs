// Parse iCalendar files with Mozilla's ical.js (vendored) and print their events as JSON.
// Used by tests/test_ical.py: a second, independent parser, which resolves TZID times
// through the feed's own VTIMEZONE only (ical.js has no time-zone database).
// Usage: node icaljs_events.mjs FILE.ics [FILE.ics ...]  → {"FILE.ics": [event, ...], ...}
import { readFileSync } from "node:fs";
import ICAL from "../vendor/icaljs/ical.min.mjs";

const result = {};
for (const path of process.argv.slice(2)) {
  const calendar = new ICAL.Component(ICAL.parse(readFileSync(path, "utf8")));
  for (const vtimezone of calendar.getAllSubcomponents("vtimezone")) {
    ICAL.TimezoneService.register(new ICAL.Timezone(vtimezone));
  }
  result[path] = calendar.getAllSubcomponents("vevent").map((vevent) => {
    const event = new ICAL.Event(vevent);
    return {
      uid: event.uid,
      sequence: event.sequence,
      status: vevent.getFirstPropertyValue("status"),
      summary: event.summary,
      location: event.location,
      description: event.description,
      tzid: event.startDate.zone.tzid,
      start: event.startDate.toUnixTime(),
      end: event.endDate.toUnixTime(),
      alarms: vevent.getAllSubcomponents("valarm").length,
    };
  });
}
process.stdout.write(JSON.stringify(result));
