// Fails when a checked-in generated file is stale: src/gen/ (regenerated from ../../proto with
// the pinned buf + protoc-gen-es) and the playground bundle in ../../src/rest/playground/
// (rebuilt with the pinned esbuild). Both are rebuilt into a temporary directory and compared
// byte for byte, file set included; nothing in the tree is touched.

import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { build, DEFAULT_OUT } from "./build.mjs";
import { generate } from "./generate.mjs";

const WEB = resolve(dirname(fileURLToPath(import.meta.url)), "..");

async function files(dir) {
  const out = new Map();
  async function walk(d) {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) await walk(path);
      else out.set(relative(dir, path), await readFile(path));
    }
  }
  await walk(dir);
  return out;
}

/** The differences between the checked-in `actual` and the freshly built `expected`. */
async function compare(actual, expected) {
  const [have, want] = await Promise.all([files(actual), files(expected)]);
  const problems = [];
  for (const [name, bytes] of want) {
    const mine = have.get(name);
    if (mine === undefined) problems.push(`missing: ${name}`);
    else if (!mine.equals(bytes)) problems.push(`differs: ${name}`);
  }
  for (const name of have.keys()) if (!want.has(name)) problems.push(`not generated: ${name}`);
  return problems;
}

const tmp = await mkdtemp(join(tmpdir(), "llm-gateway-web-fresh-"));
let failed = false;
try {
  generate(tmp);
  const gen = await compare(join(WEB, "src/gen"), join(tmp, "src/gen"));
  if (gen.length > 0) {
    failed = true;
    console.error(
      `clients/web/src/gen is stale against proto/ (run \`npm run generate\` in clients/web):\n  ${gen.join("\n  ")}`,
    );
  } else {
    console.log("src/gen matches proto/");
  }
  await build(join(tmp, "playground"));
  const bundle = await compare(DEFAULT_OUT, join(tmp, "playground"));
  if (bundle.length > 0) {
    failed = true;
    console.error(
      `src/rest/playground is stale against clients/web (run \`npm run build\` in clients/web):\n  ${bundle.join("\n  ")}`,
    );
  } else {
    console.log("src/rest/playground matches clients/web/playground");
  }
} finally {
  await rm(tmp, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;
