// Cove's console and storefront in headless Chromium, against the real binary
// seeded with the demo brand (see harness.mjs for the server and browser).
//
//   cd tests/browser && npm install && node --test

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { launchBrowser, login as consoleLogin, shots, signInFor, startCove } from "./harness.mjs";

let cove;
let base;
let demo;
let browser;

before(async () => {
  cove = await startCove({ members: 2000 });
  ({ base, demo } = cove);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await cove?.stop();
});

function signIn(role) {
  return signInFor(demo, role);
}

async function console_(viewport = { width: 1440, height: 900 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  return { context, page };
}

async function login(page, user) {
  await consoleLogin(page, base, user);
}

test("the sign-in page renders, and a wrong password is explained", async () => {
  const { context, page } = await console_();
  const res = await page.goto(`${base}/admin/login`);
  assert.equal(res.status(), 200);
  assert.equal(await page.locator("#login-form input[name=email]").count(), 1);
  assert.equal(await page.locator("#login-form input[type=password]").count(), 1);
  await page.screenshot({ path: path.join(shots, "login.png") });

  const admin = signIn("admin");
  await page.fill("#email", admin.email);
  await page.fill("#password", "not the password");
  await Promise.all([page.waitForLoadState("load"), page.click("#login-form button[type=submit]")]);
  await page.waitForSelector("#login-error");
  assert.match(await page.textContent("#login-error"), /邮箱或密码错误|Wrong email or password/);
  assert.equal(await page.inputValue("#email"), admin.email, "the email is kept");
  assert.equal((await context.cookies()).filter((c) => c.name === "cove_session").length, 0);
  await context.close();
});

test("an admin sees the dashboard, every area, English labels, and can sign out", async () => {
  const { context, page } = await console_();
  await login(page, signIn("admin"));

  const kpis = page.locator("#kpis [data-kpi]");
  assert.equal(await kpis.count(), 6);
  for (const id of ["members", "new-members", "orders", "gmv", "repeat", "binding"]) {
    const value = (await page.textContent(`[data-kpi="${id}"] .kpi-value`)).trim();
    assert.match(value, /^(¥?[\d,.]+(%|万|亿|M)?|—)$/, `${id} shows a figure, got ${value}`);
  }
  await page.waitForSelector("#sales-chart[data-rendered] canvas");
  await page.waitForSelector("#members-chart[data-rendered] canvas");
  const box = await page.locator("#sales-chart canvas").first().boundingBox();
  assert.ok(box && box.width > 300 && box.height > 200, "the sales chart is drawn at size");

  const nav = page.locator("#nav a");
  const labels = await nav.allTextContents();
  assert.ok(labels.includes("系统"), `navigation shows System: ${labels}`);
  assert.equal(labels.length, 11, "home and all ten areas");
  await page.screenshot({ path: path.join(shots, "dashboard.png"), fullPage: true });

  // The sales chart switches between GMV and orders.
  await page.click('#sales-metric button[data-metric="orders"]');
  assert.equal(await page.getAttribute("#sales-chart", "data-metric"), "orders");
  assert.equal(await page.getAttribute('#sales-metric button[data-metric="orders"]', "aria-pressed"), "true");

  // Network: stores and resellers from the demo.
  await page.click('#nav a[href="/admin/network"]');
  await page.waitForSelector("#stores tbody tr");
  assert.ok((await page.locator("#stores tbody tr").count()) >= 10);
  assert.ok((await page.locator("#resellers tbody tr").count()) >= 2);

  // Language switch.
  await Promise.all([page.waitForLoadState("load"), page.click("#lang-switch")]);
  await page.waitForSelector('#nav a[href="/admin/system"]');
  const english = await nav.allTextContents();
  assert.ok(english.includes("System") && english.includes("Network") && english.includes("Home"), `${english}`);
  assert.equal(await page.textContent(".topbar h1"), "Network");
  assert.equal(await page.getAttribute("html", "lang"), "en");

  // System → Users: add a user through the htmx form.
  await page.goto(`${base}/admin/system/users`);
  await page.fill("#u-name", "Lin Test");
  await page.fill("#u-email", "lin.test@aurora.demo");
  await page.fill("#u-password", "a long enough password");
  await page.selectOption("#u-role", "data_analyst");
  await page.click("#add-user button[type=submit]");
  await page.waitForSelector('#users td:has-text("lin.test@aurora.demo")');
  assert.equal(await page.locator("#users-panel .alert-ok").count(), 1);
  await page.screenshot({ path: path.join(shots, "system-users.png"), fullPage: true });

  // System → API tokens: the secret is shown once.
  await page.goto(`${base}/admin/system/tokens`);
  await page.fill("#t-name", "Browser test");
  await page.fill("#t-scopes", "audience:write");
  await page.click("#create-token button[type=submit]");
  await page.waitForSelector("#token-secret code");
  assert.match(await page.textContent("#token-secret code"), /^cove_/);

  await page.goto(`${base}/admin/system/jobs`);
  assert.equal(await page.locator("#job-states .pill").count(), 5);
  await page.screenshot({ path: path.join(shots, "system-jobs.png"), fullPage: true });
  await page.goto(`${base}/admin/system/audit`);
  assert.ok((await page.locator('#audit td:has-text("token.create")').count()) >= 1);

  // Sign out.
  await Promise.all([page.waitForURL(/\/admin\/login$/), page.click("#sign-out")]);
  await page.goto(`${base}/admin`);
  assert.match(page.url(), /\/admin\/login\?next=/);
  await context.close();
});

test("a marketing user does not see System and is refused it", async () => {
  const { context, page } = await console_();
  await login(page, signIn("marketing"));
  const labels = await page.locator("#nav a").allTextContents();
  assert.ok(!labels.includes("系统") && !labels.includes("System"), `${labels}`);
  assert.ok(labels.includes("旅程"), "marketing works on journeys");
  const res = await page.goto(`${base}/admin/system/users`);
  assert.equal(res.status(), 403);
  await page.waitForSelector("#forbidden");
  await context.close();
});

test("store staff see their own store only", async () => {
  const { context, page } = await console_();
  await login(page, signIn("store_staff"));
  await page.waitForSelector("#scope-note");
  await page.waitForSelector("#sales-chart[data-rendered]");
  await page.waitForSelector("#members-chart[data-rendered]");
  await page.screenshot({ path: path.join(shots, "dashboard-store-staff.png"), fullPage: true });
  await page.goto(`${base}/admin/network`);
  assert.equal(await page.locator("#stores tbody tr").count(), 1);
  await context.close();
});

test("the storefront home shows category tiles and prices", async () => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  const res = await page.goto(`${base}/`);
  assert.equal(res.status(), 200);
  assert.match(await page.textContent(".shop-brand"), /极光电脑 Aurora/);
  const tiles = page.locator("#category-tiles .tile");
  assert.ok((await tiles.count()) > 0, "category tiles");
  const prices = await page.locator("#featured .price").allTextContents();
  assert.ok(prices.length > 0, "featured products");
  for (const p of prices) assert.match(p, /^¥\d{1,3}(,\d{3})*(\.\d{2})?$/);
  assert.deepEqual(await page.locator("#tabbar a").allTextContents(), ["首页", "分类", "服务", "我的"]);
  await page.screenshot({ path: path.join(shots, "storefront.png") });
  await page.screenshot({ path: path.join(shots, "storefront-full.png"), fullPage: true });

  await tiles.first().click();
  await page.waitForSelector("#category-products");
  await page.click('#tabbar a[href="/service"]');
  await page.waitForSelector("#tag-lookup");
  await page.fill("#tag-lookup input[name=tag]", "not-a-tag");
  await Promise.all([page.waitForURL(/\/service\?tag=/), page.click("#tag-lookup button")]);
  await page.waitForSelector("#bad-tag");
  await page.waitForSelector("#signed-out");
  await context.close();
});

test("a member signs in with a one-time link and sees their card", async () => {
  assert.ok(demo.member_sign_in && demo.member_sign_in.url, "demo.json names a member sign-in link");
  const link = new URL(demo.member_sign_in.url).pathname;
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  const res = await page.goto(`${base}${link}`);
  assert.equal(res.status(), 200);
  assert.equal(new URL(page.url()).pathname, "/me");
  await page.waitForSelector("#member-card");
  assert.match(await page.textContent("#member-card"), new RegExp(demo.member_sign_in.member_no));
  assert.match((await page.textContent("#points")).trim(), /^\d+$/);
  assert.ok(await page.locator("#member-code svg").isVisible(), "the member code is drawn");
  assert.ok((await page.locator("#points-history tr").count()) > 0, "points history");
  await page.screenshot({ path: path.join(shots, "storefront-member.png"), fullPage: true });
  await context.close();

  // The link works once.
  const again = await browser.newContext();
  const second = await again.newPage();
  await second.goto(`${base}${link}`);
  await second.waitForSelector("#signed-out");
  assert.equal(await second.locator("#member-card").count(), 0);
  await again.close();
});

test("a customer configures a laptop, pays in the sandbox and sees the order; a store manager ships it", async () => {
  assert.ok(demo.shopper_sign_in && demo.shopper_sign_in.url, "demo.json names a shopper sign-in link");
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  await page.goto(`${base}${new URL(demo.shopper_sign_in.url).pathname}`);
  assert.equal(new URL(page.url()).pathname, "/me");

  // Find the laptop by search, open it, configure it.
  await page.goto(`${base}/search?q=X14`);
  await Promise.all([page.waitForURL(/\/p\/AUR-NB-X14P$/), page.click('a[href="/p/AUR-NB-X14P"]')]);
  await page.waitForSelector('#configurator [data-group="cpu"] [data-option="ultra7"]');
  const before = await page.textContent("#price");
  await page.check('[data-group="cpu"] [data-option="ultra7"] input');
  await page.check('[data-group="storage"] [data-option="2t"] input');
  const after = await page.textContent("#price");
  assert.notEqual(after, before, "options change the price");
  await Promise.all([page.waitForURL(`${base}/cart`), page.click("#add-to-cart")]);
  assert.match(await page.textContent("#cart"), /Ultra 7/);

  // Check out with an address, then pay in the sandbox.
  await Promise.all([page.waitForURL(`${base}/checkout`), page.click("#to-checkout")]);
  if (await page.locator("input[name=name]").count()) {
    await page.fill("input[name=name]", "李雷");
    await page.fill("input[name=phone]", "13800138000");
    await page.fill("input[name=region]", "上海市 浦东新区");
    await page.fill("input[name=line]", "世纪大道 100 号");
  }
  await page.waitForSelector("#explain .payable");
  const payable = (await page.textContent("#explain .payable dd")).trim();
  await page.screenshot({ path: path.join(shots, "storefront-checkout.png"), fullPage: true });
  await Promise.all([page.waitForURL(/\/pay\/sandbox\//), page.click("#place-order")]);
  assert.equal((await page.textContent("#pay-amount")).trim(), payable, "the pay page asks for the quoted amount");
  await Promise.all([page.waitForURL(/\/orders\/[0-9a-f-]+$/), page.click("#pay-now")]);
  assert.equal(await page.getAttribute("#order-status", "data-status"), "paid");
  const orderId = new URL(page.url()).pathname.split("/").pop();
  await page.goto(`${base}/orders`);
  assert.ok(await page.locator(`[data-order="${orderId}"]`).count(), "the order is in the customer's list");

  // The store manager ships it from the console.
  const manager = await console_();
  await login(manager.page, signIn("store_manager"));
  await manager.page.goto(`${base}/admin/commerce/orders/${orderId}`);
  await manager.page.fill("#ship-carrier", "SF Express");
  await manager.page.fill("#ship-tracking", "SF1234567890");
  await Promise.all([
    manager.page.waitForResponse((r) => r.url().endsWith(`/api/v1/orders/${orderId}/ship`) && r.status() === 200),
    manager.page.click("#ship-form button[type=submit]"),
  ]);
  await manager.page.waitForFunction(() => document.querySelector("#order-status")?.textContent.match(/shipped|已发货/i));
  await manager.page.screenshot({ path: path.join(shots, "console-order.png"), fullPage: true });
  await manager.context.close();

  await page.goto(`${base}/orders/${orderId}`);
  assert.equal(await page.getAttribute("#order-status", "data-status"), "shipped");
  assert.match(await page.textContent("#tracking"), /SF1234567890/);
  await context.close();

  // The demo's notification rules told the shopper: both messages are in the sandbox outbox.
  const marketing = await console_();
  await login(marketing.page, signIn("marketing"));
  const shopperRows = async () => {
    await marketing.page.goto(`${base}/admin/channels?tab=outbox`);
    return marketing.page.$$eval("#channel-table tbody tr", (rows) =>
      rows.map((r) => r.textContent).filter((t) => t.includes("oAuroraDemoShopper")),
    );
  };
  let rows = [];
  for (let i = 0; i < 40; i++) {
    rows = await shopperRows();
    if (rows.filter((t) => t.includes("sandboxed")).length >= 2) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.ok(rows.some((t) => t.includes("TPL_ORDER_PAID") && t.includes("sandboxed")), rows.join("\n"));
  assert.ok(rows.some((t) => t.includes("TPL_ORDER_SHIPPED") && t.includes("sandboxed")), rows.join("\n"));
  await marketing.context.close();
});

test("marketing edits a notification rule in the console; a bad rule is explained", async () => {
  const { context, page } = await console_();
  await login(page, signIn("marketing"));
  await page.goto(`${base}/admin/channels/notifications`);
  assert.ok(await page.locator('#notification-rules tr[data-event="order.paid"]').count(), "the demo's rules are listed");
  await page.click('#notification-rules tr[data-event="ticket.status_changed"] a');
  await page.waitForURL(/event=ticket\.status_changed/);
  const channels = JSON.parse(await page.inputValue("#r-channels"));
  assert.equal(channels[0].via, "subscribe");

  // Only the Official Account, and switched off.
  await page.fill("#r-channels", JSON.stringify([channels[1]], null, 2));
  await page.uncheck("#rule-editor input[name=enabled]");
  await page.click("#rule-editor button[type=submit]");
  await page.waitForSelector("#rules-panel .alert-ok");
  const row = page.locator('#notification-rules tr[data-event="ticket.status_changed"]');
  assert.doesNotMatch(await row.textContent(), /subscribe/);
  assert.match(await row.textContent(), /停用|Off/);

  channels[0].fields[0].key = "colour1";
  await page.fill("#r-channels", JSON.stringify(channels));
  await page.click("#rule-editor button[type=submit]");
  await page.waitForSelector("#rules-panel .alert-error");
  assert.match(await page.textContent("#rules-panel .alert-error"), /colour1/);
  await page.screenshot({ path: path.join(shots, "console-notification-rules.png"), fullPage: true });
  await context.close();
});

test("a customer opens a ticket with a photo from the phone; an agent sees it in the queue", async () => {
  assert.ok(demo.support_sign_in && demo.support_sign_in.url, "demo.json names a support sign-in link");
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  await page.goto(`${base}${new URL(demo.support_sign_in.url).pathname}`);
  assert.equal(new URL(page.url()).pathname, "/me");

  await page.goto(`${base}/service/tickets`);
  await Promise.all([page.waitForURL(`${base}/service/tickets/new`), page.click("#new-ticket")]);
  const subject = `屏幕闪烁 ${Date.now()}`;
  await page.selectOption("select[name=kind]", "after_sales");
  await page.fill("input[name=subject]", subject);
  await page.fill("textarea[name=body]", "开机后屏幕一直闪烁，见照片");
  // A real 1×1 PNG, as a phone camera would hand over a file.
  const png = Buffer.from(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==",
    "base64",
  );
  await page.setInputFiles("input[type=file]", { name: "screen.png", mimeType: "image/png", buffer: png });
  await Promise.all([page.waitForURL(/\/service\/tickets\/[0-9a-f-]{36}$/), page.click("#open-ticket button[type=submit]")]);
  assert.equal((await page.textContent("#ticket-subject")).trim(), subject);
  const number = (await page.textContent("#ticket-number")).trim();
  await page.waitForFunction(() => document.querySelector("#conversation img.ticket-photo")?.naturalWidth === 1);
  await page.screenshot({ path: path.join(shots, "storefront-ticket.png"), fullPage: true });

  const agent = await console_();
  await login(agent.page, signIn("service_agent"));
  await agent.page.goto(`${base}/admin/service`);
  await Promise.all([agent.page.waitForURL(`${base}/admin/service/tickets`), agent.page.click("#ticket-queue-link")]);
  const row = agent.page.locator("#tickets tr", { hasText: number });
  assert.equal(await row.count(), 1, "the ticket is in the queue");
  assert.match(await row.textContent(), new RegExp(subject));
  await Promise.all([agent.page.waitForURL(/\/admin\/service\/tickets\/[0-9a-f-]{36}$/), row.locator("a").first().click()]);
  await agent.page.waitForFunction(() => document.querySelector("img.attachment-photo")?.naturalWidth === 1);
  await agent.page.screenshot({ path: path.join(shots, "console-ticket.png"), fullPage: true });

  // The agent answers with a PDF; the customer sees the answer and the file.
  await agent.page.fill("#reply-form textarea[name=body]", "请按说明书第 3 页操作");
  await agent.page.setInputFiles("#reply-files", {
    name: "manual.pdf",
    mimeType: "application/pdf",
    buffer: Buffer.from("%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"),
  });
  await Promise.all([
    agent.page.waitForResponse((r) => /\/api\/v1\/tickets\/[0-9a-f-]+\/messages$/.test(r.url()) && r.status() === 201),
    agent.page.click("#reply-form button[type=submit]"),
  ]);
  await agent.context.close();
  await page.reload();
  assert.match(await page.textContent("#conversation"), /请按说明书第 3 页操作/);
  const pdf = page.locator("#conversation a.ticket-file", { hasText: "manual.pdf" });
  assert.equal(await pdf.count(), 1);
  const res = await page.request.get(`${base}${await pdf.getAttribute("href")}`);
  assert.equal(res.status(), 200);
  assert.equal(res.headers()["content-type"], "application/pdf");
  await context.close();
});

test("a customer books an on-site repair; an agent sees the ticket and dispatches an engineer", async () => {
  assert.ok(demo.service_sign_in && demo.service_sign_in.url, "demo.json names a member with on-site cover");
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  await page.goto(`${base}${new URL(demo.service_sign_in.url).pathname}`);
  assert.equal(new URL(page.url()).pathname, "/me");
  // A scanned device code: the member binds the device and activates its warranty.
  assert.ok(demo.device_code_url, "demo.json names an unbound device's code");
  const code = new URL(demo.device_code_url);
  await page.goto(`${base}${code.pathname}${code.search}`);
  await Promise.all([page.waitForSelector("#mine"), page.click("#bind-device")]);
  await Promise.all([page.waitForSelector("#activated"), page.click("#activate-warranty")]);
  assert.equal(await page.locator("#activate-warranty").count(), 0);
  await page.screenshot({ path: path.join(shots, "storefront-device.png"), fullPage: true });

  // The service center lists the member's devices with their warranty.
  await page.goto(`${base}/service`);
  const scannedTag = code.pathname.split("/").pop();
  assert.equal(await page.locator(`#my-devices a[data-tag="${scannedTag}"]`).count(), 1, "the bound device is listed");
  const device = page.locator("#my-devices a[data-tag]").first();
  const tag = await device.getAttribute("data-tag");
  await page.fill("#tag-lookup input[name=tag]", tag.toLowerCase());
  await Promise.all([page.waitForURL(`${base}/d/${tag}`), page.click("#tag-lookup button")]);
  await page.goto(`${base}/service`);
  await Promise.all([page.waitForURL(`${base}/service/appointments`), page.click("#to-appointments")]);
  await page.waitForSelector("#book-form");
  await page.selectOption("#book-form select[name=territory]", "SH");

  // The first day ahead with free times (engineers rest on Sundays).
  let day = null;
  for (let ahead = 1; ahead <= 4 && !day; ahead++) {
    const candidate = await page.evaluate((n) => {
      const d = new Date(Date.now() + n * 86400000 + 8 * 3600000);
      return d.toISOString().slice(0, 10);
    }, ahead);
    await page.fill("#book-form input[name=date]", candidate);
    await Promise.all([
      page.waitForResponse((r) => r.url().includes("/api/v1/store/slots") && r.status() === 200),
      page.click("#find-slots"),
    ]);
    if (await page.locator("#slots input[name=starts_at]").count()) day = candidate;
  }
  assert.ok(day, "free times within four days");
  await page.fill("#book-form input[name=address]", "上海市徐汇区漕溪北路 88 号");
  await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/api/v1/me/appointments") && r.status() === 201),
    page.click("#book-form button[type=submit]"),
  ]);
  await page.waitForSelector("#booked:not([hidden])");
  const number = (await page.textContent("#booked-number")).trim();
  assert.match(number, /^V\d+$/);
  const link = await page.getAttribute("#booked-link", "href");
  await page.screenshot({ path: path.join(shots, "storefront-appointment.png"), fullPage: true });

  // The agent finds the visit awaiting dispatch, opens its ticket, dispatches it.
  const agent = await console_();
  await login(agent.page, signIn("service_agent"));
  await agent.page.goto(`${base}/admin/service`);
  await Promise.all([agent.page.waitForURL(/\/admin\/service\/dispatch$/), agent.page.click("#to-dispatch")]);
  await agent.page.goto(`${base}/admin/service/dispatch?from=${day}`);
  const waiting = agent.page.locator("#awaiting li", { hasText: number });
  assert.equal(await waiting.count(), 1, "the visit awaits dispatch");
  const ticketHref = await waiting.locator('a[href^="/admin/service/tickets/"]').getAttribute("href");
  await Promise.all([
    agent.page.waitForResponse((r) => /\/dispatch$/.test(new URL(r.url()).pathname) && r.status() === 200),
    waiting.locator(".assign-form button[type=submit]").click(),
  ]);
  await agent.page.waitForSelector(`#dispatch-board .visit[data-status="dispatched"]:has-text("${number}")`);
  assert.equal(await agent.page.locator("#awaiting li", { hasText: number }).count(), 0);
  await agent.page.screenshot({ path: path.join(shots, "console-dispatch.png"), fullPage: true });
  await agent.page.goto(`${base}${ticketHref}`);
  assert.match(await agent.page.textContent("main"), /On-site repair/);
  await agent.context.close();

  // The link shows the visit as dispatched without signing in.
  const anonymous = await browser.newContext();
  const linkPage = await anonymous.newPage();
  await linkPage.goto(`${base}${link}`);
  assert.equal(await linkPage.getAttribute(".appointment", "data-status"), "dispatched");
  await anonymous.close();
  await context.close();
});
