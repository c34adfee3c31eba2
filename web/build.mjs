// Bundle JsSIP and SIP.js for the browser phone (web/phone.html).
//
// Neither npm package can be loaded by a <script> tag as it is: JsSIP is
// CommonJS (require()) and SIP.js is a tree of ES modules. esbuild follows
// their imports and writes one self-contained file per library, an IIFE that
// sets a global: `JsSIP` (as jssip.net's own builds do) and `SIP` (as
// sipjs.com's do). The output is committed in web/dist/, so the lab runs
// without node or npm; tests/browser/test_web_bundles.py rebuilds and checks that
// the committed files are exactly what this script produces.
//
//   npm run build            # write web/dist/*.js
//   npm run check            # rebuild in memory, exit 1 if web/dist/ differs

import { readFile, mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");

// One entry per library: the package's own main module, and the global it becomes.
const bundles = [
  { file: "jssip.bundle.js", entry: "jssip", globalName: "JsSIP" },
  { file: "sipjs.bundle.js", entry: "sip.js", globalName: "SIP" },
];

async function build({ file, entry, globalName }) {
  const result = await esbuild.build({
    entryPoints: [entry],
    absWorkingDir: here,
    bundle: true,
    format: "iife",
    globalName,
    platform: "browser", // use the packages' "browser" fields (debug, events)
    target: "es2020",
    minify: true, // vendor code, committed: small beats readable (DevTools can pretty-print)
    legalComments: "inline", // keep the MIT licence notices in the bundle
    charset: "utf8",
    write: false,
    logLevel: "warning",
  });
  const version = JSON.parse(
    await readFile(join(here, "node_modules", entry, "package.json"), "utf8"),
  ).version;
  const banner =
    `// ${entry} ${version} bundled by esbuild ${esbuild.version} (web/build.mjs); ` +
    `do not edit, run \`npm run build\`.\n`;
  return { file, text: banner + result.outputFiles[0].text };
}

const check = process.argv.includes("--check");
const outputs = await Promise.all(bundles.map(build));
let stale = 0;
for (const { file, text } of outputs) {
  const path = join(dist, file);
  if (check) {
    const committed = await readFile(path, "utf8").catch(() => null);
    if (committed !== text) {
      console.error(`web/dist/${file} is not what \`npm run build\` makes: rebuild it`);
      stale += 1;
    }
  } else {
    await mkdir(dist, { recursive: true });
    await writeFile(path, text);
    console.log(`web/dist/${file}: ${(text.length / 1024).toFixed(0)} KiB`);
  }
}
process.exit(stale ? 1 : 0);
