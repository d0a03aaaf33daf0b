"""Names of activities, shared by workflows (which call them) and activity classes (which define
them), so workflow modules never import the I/O libraries the activities use."""

from enum import StrEnum


class Activity(StrEnum):
    PLAN_RUN = "aios.plan_run"
    INVOKE_TOOL = "aios.invoke_tool"
    LLM_COMPLETE = "aios.llm_complete"
    RETRIEVE = "aios.retrieve"
    LIST_FILES = "aios.list_files"
    INGEST_FILE = "aios.ingest_file"
