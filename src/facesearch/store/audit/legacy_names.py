"""COMPATIBILITY ONLY: the audit action names as module constants (`SEARCH = "search"`, ...), as facesearch 0.3.0
spelled them. Use `vocabulary.Action` instead. Kept, re-exported by `facesearch.store.audit`, only for the
callers that still import them; delete each name with its last caller, and this module with the last name."""

from __future__ import annotations

from ...vocabulary import Action

AUDIT_TRIGGERS = Action.AUDIT_TRIGGERS.value
COLLECTION_CREATE = Action.COLLECTION_CREATE.value
INDEX_REBUILD = Action.INDEX_REBUILD.value
INGEST = Action.INGEST.value
LOGIN = Action.LOGIN.value
LOGIN_FAILED = Action.LOGIN_FAILED.value
LOGOUT = Action.LOGOUT.value
OPTOUT_HIDE = Action.OPTOUT_HIDE.value
PEOPLE_CLUSTER = Action.PEOPLE_CLUSTER.value
PEOPLE_CORRECT = Action.PEOPLE_CORRECT.value
PEOPLE_TOGETHER = Action.PEOPLE_TOGETHER.value
PEOPLE_UNDO = Action.PEOPLE_UNDO.value
PEOPLE_VIEW = Action.PEOPLE_VIEW.value
SEARCH = Action.SEARCH.value
TOKEN_CREATE = Action.TOKEN_CREATE.value
TOKEN_REVOKE = Action.TOKEN_REVOKE.value
USER_ADD = Action.USER_ADD.value
USER_CHANGE = Action.USER_CHANGE.value
VERIFY = Action.VERIFY.value
VIEW_MATCH = Action.VIEW_MATCH.value
VIEW_THUMBNAIL = Action.VIEW_THUMBNAIL.value
