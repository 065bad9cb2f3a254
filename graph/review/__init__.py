"""Analysts' review of rings: who acts (actors, users), decisions and undo, case work, the audit trail."""
