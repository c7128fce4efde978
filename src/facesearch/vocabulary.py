"""The words every layer shares: who may act (roles) and what the audit log records (actions).

They live at the bottom so that the store (which keeps them), the use cases (which check and write them) and
the transports (which list them in forms and filters) use the same names without importing one another."""

from __future__ import annotations

from enum import Enum

ROLES = ("admin", "operator", "examiner", "auditor")
SYSTEM_ROLE = "system"  # scheduled work and hooks act as the system, never as a person


class Action(str, Enum):
    """What an audit entry records. The values are stable: reports, filters and exports select on them."""

    SEARCH = "search"
    VERIFY = "verify"
    VIEW_MATCH = "view_match"
    VIEW_THUMBNAIL = "view_thumbnail"
    EXPORT = "export"
    INGEST = "ingest"
    DELETE = "delete"
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    USER_ADD = "user_add"
    USER_CHANGE = "user_change"
    TOKEN_CREATE = "token_create"
    TOKEN_REVOKE = "token_revoke"
    COLLECTION_CREATE = "collection_create"
    COLLECTION_DELETE = "collection_delete"
    OPTOUT_ADD = "optout_add"
    OPTOUT_ERASE = "optout_erase"
    OPTOUT_BLOCK = "optout_block"
    OPTOUT_HIDE = "optout_hide"
    SUBJECT_REPORT = "subject_report"
    PURGE = "purge"
    DOCTOR = "doctor"
    SEARCH_SUSPEND = "search_suspend"
    SEARCH_RESUME = "search_resume"
    PURPOSE_ADD = "purpose_add"
    PURPOSE_RETIRE = "purpose_retire"
    PROPOSE = "lead_propose"
    CONFIRM = "lead_confirm"
    REJECT = "lead_reject"
    CASE_REPORT = "case_report"
    VIEW_SEARCH = "view_search"
    AUDIT_KEY = "audit_key"  # the chain is keyed from this entry on (a home upgraded from 0.1.0 or 0.2.0)
    AUDIT_TRIGGERS = "audit_triggers"  # the append-only triggers were missing when the home was opened
    AUDIT_RESEAL = "audit_reseal"  # an admin went on after the log stopped matching its checkpoint
    BACKUP = "backup"
    RESTORE = "restore"
    INDEX_REBUILD = "index_rebuild"
    PEOPLE_CLUSTER = "people_cluster"
    PEOPLE_VIEW = "people_view"
    PEOPLE_CORRECT = "people_correct"
    PEOPLE_UNDO = "people_undo"
    PEOPLE_TOGETHER = "people_together"  # a search: who appears with a person; gated, listed in case reports
    WATCH_ADD = "watch_add"  # a standing search registered: gated like a search, counted by the limits
    WATCH_RENEW = "watch_renew"
    WATCH_STOP = "watch_stop"  # stopped by a person, or by the system when the case's authorisation lapsed
    WATCH_EXPIRE = "watch_expire"  # its --until passed
    WATCH_HIT = "watch_hit"  # a new face at or above a watch's threshold: a lead under the watch's case
    WATCH_CHECK = "watch_check"  # an ingest's check that could not run (searching suspended)
    WATCH_VIEW = "watch_view"  # hits shown to someone
    WATCH_NOTIFY = "watch_notify"  # a webhook delivery's outcome (ids only; the target by fingerprint)
    CASE_AUTHORISE = "case_authorise"  # a judicial or administrative authorisation recorded for a case
    LEAD_ASSIGN = "lead_assign"  # a proposal assigned to a named reviewer
    CASE_ASSIGN = "case_assign"  # an admin added an examiner to a case (who may then work on it and read it)
    CASE_UNASSIGN = "case_unassign"  # an admin took an examiner off a case (their past entries stay)
    ROLE_REFUSED = "role_refused"  # a caller refused for their role (a use case or a route they may not use)
    DETECT = "detect"  # the faces of a probe found before a search: a probe upload, limited like a search
    LIMITS_SET = "limits_set"  # an admin set the deployment's per-user search limits (kept in the home)

    def __str__(self) -> str:
        return self.value


ACTIONS = tuple(a.value for a in Action)
