// Storefront buying pages: cart quantities, the checkout form with a live
// server quote, the sandbox pay button and order actions. Every call goes
// to the JSON API with the session cookie and its CSRF token.
(function () {
  "use strict";
  var root = document.querySelector("[data-csrf]");
  if (!root) return;
  var csrf = root.getAttribute("data-csrf");

  function api(method, path, body) {
    return fetch(path, {
      method: method,
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) throw data;
        return data;
      });
    });
  }
  function yuan(fen) {
    var sign = fen < 0 ? "-" : "";
    var abs = Math.abs(fen);
    var whole = Math.floor(abs / 100).toLocaleString("en-US");
    var cents = abs % 100;
    return sign + "¥" + whole + (cents ? "." + String(cents).padStart(2, "0") : "");
  }
  function showError(id, err) {
    var el = document.getElementById(id);
    if (!el) return;
    el.textContent = (err && err.message) || "Something went wrong";
    el.hidden = false;
  }

  // Cart: quantity buttons.
  document.querySelectorAll("#cart [data-line] [data-qty]").forEach(function (b) {
    b.addEventListener("click", function () {
      var line = b.closest("[data-line]").getAttribute("data-line");
      api("PATCH", "/api/v1/me/cart/" + line, { quantity: Number(b.getAttribute("data-qty")) })
        .then(function () { location.reload(); }, function (e) { alert(e.message); });
    });
  });

  // Checkout: a quote on every change, then place the order and pay.
  var form = document.getElementById("checkout-form");
  if (form) {
    var items = JSON.parse(form.getAttribute("data-items"));
    var labels = {};
    JSON.parse(document.getElementById("explain-labels").textContent).forEach(function (p) { labels[p[0]] = p[1]; });
    var key = "web-" + (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random());
    var apply = function () {
      var a = { points: 0 };
      if (form.coupon_id && form.coupon_id.value) a.coupon_id = form.coupon_id.value;
      if (form.points) a.points = Number(form.points.value || 0);
      if (form.grant_id && form.grant_id.value) a.grant_id = form.grant_id.value;
      return a;
    };
    var render = function (q) {
      var dl = document.getElementById("explain");
      dl.innerHTML = "";
      q.explanation.forEach(function (e) {
        var div = document.createElement("div");
        div.className = e.kind;
        var dt = document.createElement("dt");
        dt.textContent = (e.kind === "promotion" || e.kind === "coupon" || e.kind === "flash_sale") ? e.label : (labels[e.kind] || e.label);
        var dd = document.createElement("dd");
        dd.textContent = yuan(e.amount_fen);
        div.appendChild(dt); div.appendChild(dd); dl.appendChild(div);
      });
      var max = document.getElementById("points-max");
      if (max) max.textContent = dl.getAttribute("data-points-label") + " " + q.points_max;
    };
    var requote = function () {
      document.getElementById("checkout-error").hidden = true;
      api("POST", "/api/v1/me/quote", { items: items, apply: apply() }).then(render, function (e) { showError("checkout-error", e); });
    };
    fetch("/api/v1/me/coupons", { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : []; }).then(function (list) {
      (Array.isArray(list) ? list : list.coupons || []).forEach(function (c) {
        if (c.status && c.status !== "issued") return;
        var o = document.createElement("option");
        o.value = c.id;
        o.textContent = c.name || c.label || c.id;
        form.coupon_id.appendChild(o);
      });
    }).catch(function () {});
    form.addEventListener("change", function (e) {
      if (e.target.name === "invoice_kind") {
        form.querySelectorAll(".invoice-field").forEach(function (f) {
          f.hidden = !e.target.value || (f.classList.contains("company-field") && e.target.value !== "company");
        });
      }
      requote();
    });
    requote();
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var saved = document.getElementById("saved-address");
      var address = saved ? JSON.parse(saved.getAttribute("data-address")) :
        { name: form.name.value, phone: form.phone.value, region: form.region.value, line: form.line.value };
      var body = { key: key, items: items, apply: apply(), address: address, from_cart: true, entry: { channel: "h5" } };
      if (form.invoice_kind.value) body.invoice = { kind: form.invoice_kind.value, title: form.invoice_title.value, tax_id: form.tax_id.value || null };
      if (form.remark.value) body.remark = form.remark.value;
      var button = document.getElementById("place-order");
      button.disabled = true;
      var save = saved ? Promise.resolve() : api("POST", "/api/v1/me/addresses", address).catch(function () {});
      save.then(function () { return api("POST", "/api/v1/me/checkout", body); })
        .then(function (placed) { return api("POST", "/api/v1/me/orders/" + placed.order_id + "/pay/sandbox", {}); })
        .then(function (p) { location.href = p.pay_url; }, function (err) { button.disabled = false; showError("checkout-error", err); });
    });
  }

  // Sandbox pay page.
  var pay = document.getElementById("pay-now");
  if (pay) {
    pay.addEventListener("click", function () {
      pay.disabled = true;
      api("POST", "/api/v1/me/payments/" + pay.getAttribute("data-payment") + "/sandbox-confirm", {})
        .then(function () { location.href = "/orders/" + pay.getAttribute("data-order"); },
              function (e) { pay.disabled = false; showError("pay-error", e); });
    });
  }

  // Order actions.
  var order = document.getElementById("order");
  if (order) {
    var id = order.getAttribute("data-order");
    var act = function (buttonId, call) {
      var b = document.getElementById(buttonId);
      if (b) b.addEventListener("click", function () {
        b.disabled = true;
        call(b).then(function (r) { if (r && r.pay_url) location.href = r.pay_url; else location.reload(); },
                     function (e) { b.disabled = false; showError("order-error", e); });
      });
    };
    act("pay-order", function () { return api("POST", "/api/v1/me/orders/" + id + "/pay/sandbox", {}); });
    act("cancel-order", function () { return api("POST", "/api/v1/me/orders/" + id + "/cancel", {}); });
    act("confirm-receipt", function () { return api("POST", "/api/v1/me/orders/" + id + "/confirm-receipt", {}); });
    act("refund-order", function (b) {
      var reason = prompt(b.getAttribute("data-prompt"));
      if (!reason) return Promise.reject({ message: b.getAttribute("data-prompt") });
      return api("POST", "/api/v1/me/orders/" + id + "/refund", { reason: reason });
    });
  }
})();
