"""Plays WeChat Pay's side for Cove's WeChat Pay tests, independently of Cove's code.

Reads a JSON list of operations on stdin and writes a JSON list of results on stdout:
{"ok": value} or {"error": "message"} per operation. `cryptography` builds notifications
(AES-256-GCM resource, RSA-SHA256 signature); `wechatpayv3` verifies what Cove signed.
"""
import base64
import json
import sys


def op_notification(op):
    """A signed notification: envelope JSON with an encrypted resource, and its headers."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    aad = op["original_type"]
    ct = AESGCM(op["apiv3_key"].encode()).encrypt(op["resource_nonce"].encode(),
                                                  op["plaintext"].encode(), aad.encode())
    body = json.dumps({
        "id": op["id"], "create_time": "2026-01-01T08:00:00+08:00",
        "resource_type": "encrypt-resource", "event_type": op["event_type"], "summary": "ok",
        "resource": {"original_type": op["original_type"], "algorithm": "AEAD_AES_256_GCM",
                     "ciphertext": base64.b64encode(ct).decode(),
                     "associated_data": aad, "nonce": op["resource_nonce"]},
    }, ensure_ascii=False, separators=(",", ":"))
    key = serialization.load_pem_private_key(op["private_key_pem"].encode(), password=None)
    message = "%s\n%s\n%s\n" % (op["timestamp"], op["nonce"], body)
    sig = base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()
    return {"body": body, "headers": {
        "Wechatpay-Timestamp": op["timestamp"], "Wechatpay-Nonce": op["nonce"],
        "Wechatpay-Signature": sig, "Wechatpay-Serial": op["serial"],
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048"}}


def op_verify_lines(op):
    """wechatpayv3's verifier over `line1\\nline2\\n...\\n` (its rsa_verify joins three parts,
    so the leading lines travel in the first)."""
    import wechatpayv3.utils as u
    lines = op["lines"]
    head, nonce, body = "\n".join(lines[:-2]), lines[-2], lines[-1]
    return u.rsa_verify(head, nonce, body, op["signature"], u.load_public_key(op["public_key_pem"]))


def op_pay_sign(op):
    """wechatpayv3's own paySign for the same values (RSA PKCS#1 v1.5 is deterministic)."""
    from wechatpayv3 import WeChatPay, WeChatPayType
    wx = WeChatPay(wechatpay_type=WeChatPayType.MINIPROG, mchid=op["mchid"],
                   private_key=op["private_key_pem"], cert_serial_no=op["serial_no"],
                   appid=op["appid"], apiv3_key=op["apiv3_key"], notify_url="https://x/n",
                   public_key=op["public_key_pem"], public_key_id=op["public_key_id"])
    return wx.sign(op["data"])


def op_certificate(op):
    """A self-signed platform certificate (legacy mode) holding WeChat Pay's key; PEM."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID
    key = serialization.load_pem_private_key(op["private_key_pem"].encode(), password=None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(int(op["serial_hex"], 16))
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


OPS = {name[3:]: fn for name, fn in globals().items() if name.startswith("op_")}


def main():
    results = []
    for op in json.load(sys.stdin):
        try:
            results.append({"ok": OPS[op["op"]](op)})
        except Exception as e:  # reported to the Rust side, which decides
            results.append({"error": "%s: %s" % (type(e).__name__, e)})
    json.dump(results, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
