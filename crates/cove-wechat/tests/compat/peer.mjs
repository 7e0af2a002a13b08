// Independent peer for the cove-wechat compatibility tests, using @wecom/crypto.
// Reads a JSON list of operations on stdin; writes a JSON list of {ok}|{error} results.
import { createRequire } from "node:module";
import path from "node:path";

const modules = process.env.COVE_NODE_MODULES
  ? path.resolve(process.env.COVE_NODE_MODULES)
  : path.join(path.dirname(new URL(import.meta.url).pathname), "node_modules");
const require = createRequire(path.join(modules, "noop.js"));
const wecom = require("@wecom/crypto");

const ops = {
  signature: (op) => wecom.getSignature(op.token, op.timestamp, op.nonce, op.encrypt),
  decrypt: (op) => {
    const r = wecom.decrypt(op.key, op.encrypt);
    return { message: r.message, id: r.id, random: r.random.toString("hex") };
  },
  encrypt: (op) =>
    wecom.encrypt(op.key, op.msg, op.receiveid, op.random ? Buffer.from(op.random) : undefined),
  version: () => require("@wecom/crypto/package.json").version,
};

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (c) => (input += c));
process.stdin.on("end", () => {
  const results = JSON.parse(input).map((op) => {
    try {
      return { ok: ops[op.op](op) };
    } catch (e) {
      return { error: String(e && e.message ? e.message : e) };
    }
  });
  process.stdout.write(JSON.stringify(results));
});
