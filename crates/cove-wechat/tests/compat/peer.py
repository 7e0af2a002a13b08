"""Independent peer for the cove-wechat compatibility tests.

Reads a JSON list of operations on stdin and writes a JSON list of results on stdout, one
result per operation: {"ok": value} or {"error": "message"}. Uses wechatpy (callback crypto and
message parsing), wechatpayv3 (WeChat Pay v3) and cryptography (to play WeChat Pay's side).
"""
import base64
import json
import sys


def oa_crypto(op):
    from wechatpy.crypto import WeChatCrypto
    return WeChatCrypto(op["token"], op["key"], op["receiveid"])


def work_crypto(op):
    from wechatpy.work.crypto import WeChatCrypto
    return WeChatCrypto(op["token"], op["key"], op["receiveid"])


def crypto_for(op):
    return work_crypto(op) if op.get("work") else oa_crypto(op)


def op_encrypt(op):
    return crypto_for(op).encrypt_message(op["msg"], op["nonce"], op["timestamp"])


def op_decrypt(op):
    return crypto_for(op).decrypt_message(op["xml"], op["signature"], op["timestamp"], op["nonce"])


def op_check_echostr(op):
    return work_crypto(op).check_signature(op["signature"], op["timestamp"], op["nonce"], op["echostr"])


def op_check_signature(op):
    from wechatpy.utils import check_signature
    from wechatpy.exceptions import InvalidSignatureException
    try:
        check_signature(op["token"], op["signature"], op["timestamp"], op["nonce"])
        return True
    except InvalidSignatureException:
        return False


def op_parse(op):
    if op.get("work"):
        from wechatpy.work import parse_message
    else:
        from wechatpy import parse_message
    msg = parse_message(op["xml"])
    out = {"class": type(msg).__name__, "type": getattr(msg, "type", None)}
    for attr in ("event", "scene_id", "ticket", "key", "content", "change_type", "user_id",
                 "external_user_id", "state", "welcome_code", "chat_id", "update_detail",
                 "source", "fail_reason", "status", "url", "latitude", "longitude"):
        try:
            value = getattr(msg, attr)
        except Exception:
            continue
        if value is not None and not callable(value):
            out[attr] = value if isinstance(value, (str, int, float, bool)) else str(value)
    return out


def op_pay_build_authorization(op):
    import wechatpayv3.utils as u
    u.time.time = lambda: float(op["timestamp"])
    key = u.load_private_key(op["private_key_pem"])
    return u.build_authorization(op["path"], op["method"], op["mchid"], op["serial_no"], key,
                                 data=op.get("body") or None, nonce_str=op["nonce_str"])


def op_pay_rsa_verify(op):
    import wechatpayv3.utils as u
    key = u.load_public_key(op["public_key_pem"])
    return u.rsa_verify(op["timestamp"], op["nonce"], op["body"], op["signature"], key)


def wechatpay(op):
    from wechatpayv3 import WeChatPay, WeChatPayType
    return WeChatPay(wechatpay_type=WeChatPayType.MINIPROG, mchid=op["mchid"],
                     private_key=op["private_key_pem"], cert_serial_no=op["serial_no"],
                     appid=op["appid"], apiv3_key=op["apiv3_key"], notify_url="https://x/n",
                     public_key=op["public_key_pem"], public_key_id=op["public_key_id"])


def op_pay_sign(op):
    return wechatpay(op).sign(op["data"])


def op_pay_callback(op):
    return wechatpay(op).callback(op["headers"], op["body"])


def op_pay_aes_decrypt(op):
    from wechatpayv3.utils import aes_decrypt
    return aes_decrypt(op["nonce"], op["ciphertext"], op["associated_data"], op["apiv3_key"])


def op_wechat_notification(op):
    """Plays WeChat Pay: encrypts a resource and signs a notification with `cryptography`."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    ct = AESGCM(op["apiv3_key"].encode()).encrypt(op["resource_nonce"].encode(),
                                                  op["plaintext"].encode(),
                                                  op["associated_data"].encode())
    body = json.dumps({
        "id": "EV-2018022511223320873", "create_time": "2015-05-20T13:29:35+08:00",
        "resource_type": "encrypt-resource", "event_type": op["event_type"], "summary": "ok",
        "resource": {"original_type": op["original_type"], "algorithm": "AEAD_AES_256_GCM",
                     "ciphertext": base64.b64encode(ct).decode(),
                     "associated_data": op["associated_data"], "nonce": op["resource_nonce"]},
    }, ensure_ascii=False, separators=(",", ":"))
    key = serialization.load_pem_private_key(op["private_key_pem"].encode(), password=None)
    message = "%s\n%s\n%s\n" % (op["timestamp"], op["nonce"], body)
    sig = base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()
    return {"body": body, "headers": {
        "Wechatpay-Timestamp": op["timestamp"], "Wechatpay-Nonce": op["nonce"],
        "Wechatpay-Signature": sig, "Wechatpay-Serial": op["serial"],
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048"}}


def op_versions(_op):
    from importlib.metadata import version
    return {p: version(p) for p in ("wechatpy", "wechatpayv3", "cryptography")}


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
