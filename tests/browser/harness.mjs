// What the browser tests share: a real `cove demo` server on a free port
// with its own data directory (and, with COVE_DATABASE_URL set, its own
// fresh PostgreSQL database created through COVE_TEST_PG_ADMIN_URL, by
// default the same server's `postgres` database), headless Chromium, and
// the console sign-in.
//
// COVE_BIN picks the binary (default target/debug/cove), CHROMIUM the
// browser (default /usr/bin/chromium).

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const shots = path.join(root, "target/screenshots");
const bin = path.resolve(root, process.env.COVE_BIN || "target/debug/cove");

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function psql(adminUrl, sql) {
  const r = spawnSync("psql", [adminUrl, "-v", "ON_ERROR_STOP=1", "-c", sql], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`psql failed: ${r.stderr || r.error}`);
}

/** A fresh PostgreSQL database for this run: its URL and how to drop it. */
function freshPostgres(url) {
  const admin = process.env.COVE_TEST_PG_ADMIN_URL || Object.assign(new URL(url), { pathname: "/postgres" }).toString();
  const name = `cove_browser_${process.pid}_${Date.now()}`;
  psql(admin, `CREATE DATABASE ${name}`);
  return {
    url: Object.assign(new URL(admin), { pathname: `/${name}` }).toString(),
    drop: () => psql(admin, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

/**
 * Starts `cove demo --members N` with `env` added; resolves once it is ready
 * with { base, demo (demo.json), stop() }.
 */
export async function startCove({ members = 2000, env = {} } = {}) {
  mkdirSync(shots, { recursive: true });
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "cove-browser-"));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const pg = process.env.COVE_DATABASE_URL ? freshPostgres(process.env.COVE_DATABASE_URL) : null;
  const childEnv = { ...process.env, ...env, COVE_LISTEN: `127.0.0.1:${port}`, COVE_DATA_DIR: dataDir };
  if (pg) childEnv.COVE_DATABASE_URL = pg.url;
  const server = spawn(bin, ["demo", "--members", String(members)], { env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  server.stdout.on("data", (d) => (log += d));
  server.stderr.on("data", (d) => (log += d));

  const stop = async () => {
    if (server.exitCode === null) {
      const exited = new Promise((r) => server.once("exit", r));
      server.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (server.exitCode === null) server.kill("SIGKILL");
    }
    pg?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 240_000;
  for (;;) {
    if (server.exitCode !== null) {
      await stop();
      throw new Error(`cove exited with ${server.exitCode}:\n${log}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`cove was not ready in time:\n${log}`);
    }
    try {
      if ((await fetch(`${base}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const demo = JSON.parse(readFileSync(path.join(dataDir, "demo.json"), "utf8"));
  return { base, demo, stop, log: () => log };
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** The demo's console sign-in for `role`. */
export function signInFor(demo, role) {
  const entry = demo.sign_ins.find((s) => s.role === role);
  assert.ok(entry, `demo.json has a ${role} sign-in`);
  return entry;
}

/** Signs in to the console through its sign-in page; lands on the dashboard. */
export async function login(page, base, { email, password }) {
  await page.goto(`${base}/admin`);
  assert.match(page.url(), /\/admin\/login\?next=\/admin$/);
  await page.fill("#email", email);
  await page.fill("#password", password);
  await Promise.all([page.waitForURL(`${base}/admin`), page.click("#login-form button[type=submit]")]);
}
