// Turns noVNC's npm package (CommonJS modules under lib/, as Babel left them) into one browser script that sets
// window.NoVncRfb to its RFB class. The build runs it after npm ci (Sharpvisor.Manager.csproj); no bundler package is
// needed: the modules only require each other by relative path. Usage: node bundle-novnc.mjs OUTPUT.js
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join, posix, relative } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const lib = join(here, "node_modules", "@novnc", "novnc", "lib");
const output = process.argv[2];
if (!output) {
  console.error("usage: node bundle-novnc.mjs OUTPUT.js");
  process.exit(2);
}

// Each module once, by its path under lib/, starting from rfb.js and following require("./...").
const modules = new Map();
const pending = ["rfb.js"];
while (pending.length > 0) {
  const id = pending.pop();
  if (modules.has(id)) continue;
  let source = readFileSync(join(lib, id), "utf8");
  // One top-level await (util/browser.js probing H.264 decoding) cannot live in a function, and the probe leaves a
  // VideoFrame for the garbage collector (a console warning): our server never offers H.264, so the answer is "no".
  const probe = "= await _checkWebCodecsH264DecodeSupport();";
  if (id === "util/browser.js") {
    if (!source.includes(probe)) throw new Error("util/browser.js no longer probes H.264 as bundle-novnc.mjs expects: check the rewrite");
    source = source.replace(probe, "= false;");
  }

  // Babel leaves top-level statements at column 0 and indents function bodies: an await there would break the wrapper.
  for (const line of source.split("\n")) {
    if (/^\S.*\bawait\b/.test(line)) throw new Error(`${id} has a top-level await: ${line.trim()}`);
  }

  const requires = {};
  for (const [, path] of source.matchAll(/require\("([^"]+)"\)/g)) {
    if (!path.startsWith(".")) throw new Error(`${id} requires '${path}', which is not a file of the package`);
    const target = posix.normalize(posix.join(posix.dirname(id), path));
    requires[path] = target;
    pending.push(target);
  }
  modules.set(id, { source, requires });
}

const parts = ["// noVNC (https://github.com/novnc/noVNC, MPL-2.0), its lib/ modules wrapped for the browser by bundle-novnc.mjs.",
  "(function () {", '"use strict";', "var definitions = {};"];
for (const [id, { source, requires }] of [...modules].sort(([a], [b]) => a.localeCompare(b))) {
  parts.push(`definitions[${JSON.stringify(id)}] = { requires: ${JSON.stringify(requires)}, run: function (module, exports, require) {`);
  parts.push(source);
  parts.push("} };");
}
parts.push(`var cache = {};
function load(id) {
  if (cache[id]) return cache[id].exports;
  var definition = definitions[id];
  var module = { exports: {} };
  cache[id] = module;
  definition.run(module, module.exports, function (path) { return load(definition.requires[path]); });
  return module.exports;
}
window.NoVncRfb = load("rfb.js")["default"];
})();`);
mkdirSync(dirname(output), { recursive: true });
writeFileSync(output, parts.join("\n"));
console.log(`${relative(process.cwd(), output)}: ${modules.size} modules`);
