-- Approval notices sent (aios/notices.py): one row per approval and channel, so a retried
-- delivery activity does not tell the approvers twice.
CREATE TABLE approval_notices (
    approval_key text NOT NULL,
    channel      text NOT NULL,
    tenant       text NOT NULL,
    sent_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (approval_key, channel)
);
