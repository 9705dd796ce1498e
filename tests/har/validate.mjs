// Reads a HAR document on stdin and validates it against the HAR 1.2 schema
// published as `har-schema` (through `har-validator`, which compiles it with
// ajv). Prints one JSON report: {"valid": true, "entries": N} or
// {"valid": false, "errors": [...]}; exits 1 when invalid.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const validate = require("har-validator");

let input = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin) input += chunk;

try {
  const har = JSON.parse(input);
  await validate.har(har);
  console.log(JSON.stringify({ valid: true, entries: har.log.entries.length }));
} catch (e) {
  console.log(JSON.stringify({ valid: false, errors: e.errors ?? [String(e)] }));
  process.exit(1);
}
