// Bundles the /playground page's script into ../../src/rest/playground/app.js, which
// src/rest/playground.rs embeds into the gateway binary (with index.html and style.css, embedded
// straight from ../playground/). The output is checked in, so
// building the gateway never needs Node; scripts/check-fresh.mjs rebuilds it elsewhere and
// fails when the checked-in copy differs. esbuild is pinned (package-lock.json), so the same
// sources give the same bytes.
//
// Usage: node scripts/build.mjs [--out DIR]   (default: ../../src/rest/playground)

import { mkdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import * as esbuild from "esbuild";

const WEB = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const DEFAULT_OUT = resolve(WEB, "../../src/rest/playground");

/** Writes the bundle, app.js, into `out`. */
export async function build(out) {
  await mkdir(out, { recursive: true });
  await esbuild.build({
    absWorkingDir: WEB,
    entryPoints: [join(WEB, "playground/app.ts")],
    outfile: join(out, "app.js"),
    bundle: true,
    format: "esm",
    platform: "browser",
    target: ["es2022"],
    minify: true,
    charset: "utf8",
    legalComments: "none",
    sourcemap: false,
    logLevel: "warning",
    banner: {
      js:
        "// llm-gateway /playground, bundled by esbuild from clients/web (npm run build); do not edit.\n" +
        "// Includes @bufbuild/protobuf and @connectrpc/connect(-web), Apache-2.0.",
    },
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { out: { type: "string" } } });
  const out = values.out ? resolve(values.out) : DEFAULT_OUT;
  await build(out);
  console.log(`playground bundle written to ${out}`);
}
