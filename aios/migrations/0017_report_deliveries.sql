-- Where each published report went (activities/tools/report_delivery.py): one row per report,
-- destination and version of the report (a digest of its title and text), written as soon as that
-- destination took it and outside the publishing transaction, so that a publish retried after a
-- later destination failed does not upload, post or mail again to the ones that already took it.
CREATE TABLE IF NOT EXISTS report_deliveries (
    tenant        text NOT NULL,
    report_id     text NOT NULL,
    destination   text NOT NULL,   -- webhook | s3 | email
    digest        text NOT NULL,   -- sha256 of the title and Markdown delivered
    detail        jsonb NOT NULL DEFAULT '{}'::jsonb,  -- where (bucket and key; recipients count)
    delivered_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, report_id, destination, digest)
);
