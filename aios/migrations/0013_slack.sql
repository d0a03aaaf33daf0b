-- The Slack app (api/routes/slack.py, docs/slack.md).
-- Events taken, by Slack's event id: Slack resends an event it got no quick answer to, and the
-- resend must start nothing twice. Kept a week (older ones are deleted when new ones arrive).
CREATE TABLE slack_events (
    team_id     text NOT NULL,
    event_id    text NOT NULL,
    tenant      text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, event_id)
);
CREATE INDEX slack_events_received ON slack_events (received_at);

-- Who a Slack user is in AIOS, per workspace (admin-managed): their requests run as this user.
CREATE TABLE slack_users (
    team_id       text NOT NULL,
    slack_user_id text NOT NULL,
    tenant        text NOT NULL,
    user_id       text NOT NULL,
    roles         text[] NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, slack_user_id)
);
CREATE INDEX slack_users_tenant ON slack_users (tenant, user_id);
