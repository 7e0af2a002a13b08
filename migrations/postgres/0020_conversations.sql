-- Conversations come from WeCom Customer Service too: the customer is an
-- openid (Official Account) or an external userid (WeCom), and a WeCom reply
-- names the customer-service account (open_kfid) the customer wrote to.
ALTER TABLE oa_conversations RENAME TO conversations;
ALTER TABLE conversations ADD COLUMN open_kfid TEXT;
-- WeCom accepts at most 5 replies after each customer message.
ALTER TABLE conversations ADD COLUMN replies_since_message BIGINT NOT NULL DEFAULT 0;

-- How far each WeCom customer-service account's messages have been read.
CREATE TABLE wecom_kf_cursors (
    account_id  TEXT NOT NULL REFERENCES channel_accounts(id),
    open_kfid   TEXT NOT NULL,
    next_cursor TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (account_id, open_kfid)
);

-- Every synced message once, whichever node read it first.
CREATE TABLE wecom_kf_messages (
    account_id  TEXT NOT NULL REFERENCES channel_accounts(id),
    msgid       TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, msgid)
);

-- A live Official Account's parametric QR code as WeChat issued it: the
-- ticket, and the URL the printed code carries.
ALTER TABLE qr_scenes ADD COLUMN ticket TEXT;
ALTER TABLE qr_scenes ADD COLUMN qr_url TEXT;

-- A rule may send only for some values of one property (e.g. a ticket's
-- status changing to solved): JSON {"property": …, "values": […]}.
ALTER TABLE notification_rules ADD COLUMN only_when TEXT;

-- A Mini Program code (getwxacodeunlimit) for a scene: the page it opens and
-- the image WeChat drew (live accounts only).
ALTER TABLE qr_scenes ADD COLUMN page TEXT;
ALTER TABLE qr_scenes ADD COLUMN code_png BYTEA;
