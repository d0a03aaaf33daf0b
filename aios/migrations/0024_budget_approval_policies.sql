-- Approval policies about spend caps (subject 'budget', named by the cap's scope or '*'): a run
-- refused by a cap pauses for an approval to raise it instead of failing (docs/budgets.md).
ALTER TABLE approval_policies DROP CONSTRAINT IF EXISTS approval_policies_subject_check;
ALTER TABLE approval_policies
    ADD CONSTRAINT approval_policies_subject_check
    CHECK (subject IN ('tool', 'skill', 'schedule', 'budget'));
