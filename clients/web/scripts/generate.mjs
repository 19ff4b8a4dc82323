// Regenerates src/gen/ from ../../proto with the pinned buf and protoc-gen-es (buf.gen.yaml).
// Run after editing anything under proto/: `npm run generate`, then `npm run build` (the
// playground bundle embeds the generated descriptors).
//
// Usage: node scripts/generate.mjs [--out DIR]   (DIR receives src/gen/; default: this package)

import { execFileSync } from "node:child_process";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const WEB = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const BIN = join(WEB, "node_modules", ".bin");

/** Runs `buf generate`, writing DIR/src/gen (DIR = this package unless given). */
export function generate(outDir) {
  const args = ["generate", "--template", "buf.gen.yaml"];
  if (outDir !== undefined) args.push("--output", outDir);
  execFileSync(join(BIN, "buf"), args, {
    cwd: WEB,
    stdio: ["ignore", "inherit", "inherit"],
    // protoc-gen-es is found on PATH, from this package's node_modules.
    env: { ...process.env, PATH: `${BIN}${delimiter}${process.env.PATH ?? ""}` },
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { out: { type: "string" } } });
  generate(values.out === undefined ? undefined : resolve(values.out));
  console.log(`generated ${join(values.out ? resolve(values.out) : WEB, "src/gen")}`);
}
