// The membership center end to end in headless Chromium: a customer joins,
// buys, sees the purchase points frozen through the return window and then
// available (the server runs with the test clock, moved forward by an
// admin), redeems a coupon in the points mall, and store staff scan the
// member code at the till and record an offline purchase that earns what
// the same amount earned online.
//
//   cd tests/browser && npm install && node --test membership.test.mjs

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { launchBrowser, login, shots, signInFor, startCove } from "./harness.mjs";

let cove;
let browser;

before(async () => {
  cove = await startCove({ members: 500, env: { COVE_CLOCK__ADJUSTABLE: "true" } });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await cove?.stop();
});

const phone = () => ({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
const number = async (page, selector) => Number((await page.textContent(selector)).trim());

/** Moves the server's clock forward as an admin, through the API. */
async function advanceClock(seconds) {
  const { base, demo } = cove;
  const context = await browser.newContext();
  const admin = signInFor(demo, "admin");
  const signedIn = await context.request.post(`${base}/api/v1/auth/sign-in`, {
    data: { email: admin.email, password: admin.password },
  });
  assert.equal(signedIn.status(), 200);
  const { csrf_token } = await signedIn.json();
  const moved = await context.request.post(`${base}/api/v1/test-clock/advance`, {
    data: { seconds },
    headers: { "X-CSRF-Token": csrf_token },
  });
  assert.equal(moved.status(), 200, await moved.text());
  const reading = await moved.json();
  await context.close();
  return reading;
}

test("a customer joins, buys, waits out the return window, redeems a coupon; store staff award the same points in store", async () => {
  const { base, demo } = cove;
  assert.ok(demo.guest_sign_in?.url, "demo.json names a customer who has not joined");

  // 1. Join: a signed-in customer who is not a member gets the join form.
  const context = await browser.newContext(phone());
  const page = await context.newPage();
  await page.goto(`${base}${new URL(demo.guest_sign_in.url).pathname}`);
  assert.equal(new URL(page.url()).pathname, "/me");
  await page.waitForSelector("#not-member");
  assert.equal(await page.inputValue("#join-phone"), demo.guest_sign_in.phone, "the verified phone is offered");
  await page.click("#join-form button[type=submit]");
  await page.waitForSelector("#join-error:not([hidden])");
  assert.match(await page.textContent("#join-error"), /name/i, "the server explains what is missing");
  await page.fill("#join-name", "王小满");
  await page.fill("#join-birthday", "1994-05-20");
  await page.screenshot({ path: path.join(shots, "storefront-join.png"), fullPage: true });
  await Promise.all([page.waitForSelector("#member-card"), page.click("#join-form button[type=submit]")]);
  assert.match(await page.textContent("#member-card"), /王小满/);
  const welcome = await number(page, "#points");
  assert.equal(await number(page, "#points-locked"), 0);
  const windowSeconds = Number(await page.getAttribute("#return-window", "data-seconds"));
  assert.ok(windowSeconds > 0, "the page states the return window");

  // 2. Buy a monitor with the sandbox payment.
  await page.goto(`${base}/p/AUR-MON-24`);
  await page.waitForSelector("#add-to-cart");
  await Promise.all([page.waitForURL(`${base}/cart`), page.click("#add-to-cart")]);
  await Promise.all([page.waitForURL(`${base}/checkout`), page.click("#to-checkout")]);
  await page.fill("input[name=name]", "王小满");
  await page.fill("input[name=phone]", demo.guest_sign_in.phone.replace(/^\+86/, ""));
  await page.fill("input[name=region]", "上海市 静安区");
  await page.fill("input[name=line]", "南京西路 1266 号");
  await page.waitForSelector("#explain .payable");
  await Promise.all([page.waitForURL(/\/pay\/sandbox\//), page.click("#place-order")]);
  await Promise.all([page.waitForURL(/\/orders\/[0-9a-f-]+$/), page.click("#pay-now")]);
  assert.equal(await page.getAttribute("#order-status", "data-status"), "paid");
  const lines = await page.locator("#order-lines li").allTextContents();
  assert.equal(lines.length, 1, lines.join("\n"));
  const paid = lines[0].match(/¥([\d,]+(?:\.\d{2})?)/)[1].replace(/,/g, "");

  // 3. The purchase points are frozen through the return window...
  await page.goto(`${base}/me`);
  const earnedOnline = await number(page, "#points-locked");
  assert.ok(earnedOnline > 0, "the purchase earned points");
  assert.equal(await number(page, "#points"), welcome, "frozen points are not available yet");
  assert.ok(await page.locator("#next-unlock").count(), "the page says when they unlock");
  await page.screenshot({ path: path.join(shots, "storefront-points-frozen.png"), fullPage: true });
  await page.goto(`${base}/mall`);
  const coupon = page.locator('#mall-items tr[data-kind="coupon"]').first();
  const price = Number(await coupon.getAttribute("data-points"));
  assert.ok(welcome < price && price <= welcome + earnedOnline, `the coupon (${price}) needs the purchase points`);
  assert.equal(await coupon.locator("[data-redeem]").count(), 0, "not redeemable with frozen points");

  // ...and available once it has passed on the test clock.
  const reading = await advanceClock(windowSeconds + 60);
  assert.ok(reading.offset_seconds >= windowSeconds + 60);
  await page.goto(`${base}/me`);
  await page.waitForSelector("#member-card", { timeout: 5_000 });
  assert.equal(await number(page, "#points-locked"), 0);
  assert.equal(await number(page, "#points"), welcome + earnedOnline);
  await page.screenshot({ path: path.join(shots, "storefront-points-available.png"), fullPage: true });

  // 4. Redeem the coupon in the points mall; it is in the customer's coupons.
  await Promise.all([page.waitForURL(`${base}/mall`), page.click("#to-mall")]);
  assert.equal(await number(page, "#mall-points"), welcome + earnedOnline);
  await Promise.all([
    page.waitForURL(/\/mall\?redeemed=/),
    page.locator('#mall-items tr[data-kind="coupon"] [data-redeem]').first().click(),
  ]);
  await page.waitForSelector("#redeemed");
  assert.equal(await number(page, "#mall-points"), welcome + earnedOnline - price);
  assert.equal(await page.locator("#my-redemptions tr[data-redemption]").count(), 1);
  await page.screenshot({ path: path.join(shots, "storefront-mall.png"), fullPage: true });
  await Promise.all([page.waitForURL(`${base}/coupons`), page.click("#to-coupons")]);
  const issued = page.locator('#my-coupons tr[data-status="issued"]', { hasText: "积分兑换券" });
  assert.equal(await issued.count(), 1, "the redeemed coupon is ready to use");

  // 5. In store: staff enter the member's rotating code and record a receipt
  //    of the same amount in the same category.
  await page.goto(`${base}/me`);
  const code = await page.getAttribute("#member-code [data-code]", "data-code");
  const memberNo = (await page.textContent("#member-card .mono")).trim();
  const staff = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const till = await staff.newPage();
  await login(till, base, signInFor(demo, "store_staff"));
  await till.goto(`${base}/admin/membership`);
  await Promise.all([till.waitForURL(`${base}/admin/membership/till`), till.click("#to-till")]);
  await till.fill("#till-code", "not-a-code");
  await till.click("#till-scan button[type=submit]");
  await till.waitForSelector("#till-scan-error:not([hidden])");
  await till.fill("#till-code", code);
  await till.click("#till-scan button[type=submit]");
  await till.waitForSelector("#till-member:not([hidden])");
  assert.equal((await till.textContent("#till-member-name")).trim(), "王小满");
  assert.equal((await till.textContent("#till-member-no")).trim(), memberNo);
  await till.fill("#till-receipt", `POS-${Date.now()}`);
  await till.selectOption("#till-category", "monitors");
  await till.fill("#till-amount", paid);
  await till.click("#till-purchase button[type=submit]");
  await till.waitForSelector("#till-earned:not([hidden])");
  const earnedInStore = Number(await till.getAttribute("#till-earned", "data-points"));
  assert.equal(earnedInStore, earnedOnline, `¥${paid} in store earns what it earned online`);
  await till.screenshot({ path: path.join(shots, "console-till.png"), fullPage: true });

  // The same receipt again adds nothing.
  await till.click("#till-purchase button[type=submit]");
  await till.waitForSelector("#till-already:not([hidden])");
  await staff.close();

  // The member sees the in-store points frozen like the online ones were.
  await page.goto(`${base}/me`);
  assert.equal(await number(page, "#points-locked"), earnedInStore);
  assert.equal(await number(page, "#points"), welcome + earnedOnline - price);
  await context.close();
});

test("staff import offline members from a CSV file in the console; the same file again changes nothing", async () => {
  const { base, demo } = cove;
  const context = await browser.newContext();
  const page = await context.newPage();
  await login(page, base, signInFor(demo, "admin"));
  await page.goto(`${base}/admin/membership`);
  const upload = async (csv) => {
    await page.setInputFiles("#members-file", { name: "members.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
    await page.evaluate(() => document.querySelector("#import-members .form-msg")?.remove());
    await page.click("#import-members button[type=submit]");
    await page.waitForSelector("#import-members .form-msg");
    return {
      ok: await page.evaluate(() => document.querySelector("#import-members .form-msg").classList.contains("alert-ok")),
      text: await page.textContent("#import-members .form-msg"),
    };
  };
  const csv = "card_no,name,phone,tier,points\nAURCSV0001,林一,13652430001,gold,300\nAURCSV0002,林二,13652430002,,50\n";
  const first = await upload(csv);
  assert.ok(first.ok, first.text);
  assert.match(first.text, /created 2 · linked 0 · unchanged 0/);
  await page.screenshot({ path: path.join(shots, "console-member-import.png"), fullPage: true });
  const again = await upload(csv);
  assert.ok(again.ok, again.text);
  assert.match(again.text, /created 0 · linked 0 · unchanged 2/);
  const bad = await upload("card_no,name,phone\nAURCSV0003,林三,12345\n");
  assert.ok(!bad.ok, "a bad file is refused");
  assert.match(bad.text, /#2 invalid_phone/, "the refusal names the line and the problem");

  await page.fill("#member-search input[name=q]", "AURCSV0001");
  await Promise.all([page.waitForSelector("#member-results"), page.click("#member-search button[type=submit]")]);
  const row = await page.textContent("#member-results tbody tr");
  assert.match(row, /林一/);
  assert.match(row, /gold/);
  await context.close();
});
