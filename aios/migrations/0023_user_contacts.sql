-- Users' contact addresses (aios/stores/contacts.py): where an approval's notice reaches the
-- people it is routed to (activities/approvals.py). One row per user of a tenant, kept by the
-- tenant's admins or the user themself (PUT /v1/users/{user_id}/contact).
CREATE TABLE IF NOT EXISTS user_contacts (
    tenant        text NOT NULL,
    user_id       text NOT NULL,
    email         text NOT NULL,
    slack_user_id text,
    updated_by    text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, user_id)
);
