"""Triage and response: the queue, suppressions with preview, budgets, playbooks, actions."""

from mirrorguard.respond.actions import ActionRecord, ResponseEngine, ResponseFiles
from mirrorguard.respond.backends import ActionError, HostsDenyFile, NftSetFile, Webhook
from mirrorguard.respond.book import SuppressionBook
from mirrorguard.respond.budget import AlertBudget
from mirrorguard.respond.playbook import PlaybookSet, load_playbooks, parse_playbooks
from mirrorguard.respond.suppress import Preview, Suppression
from mirrorguard.respond.triage import Queue, QueueItem, build_queue

__all__ = ["ActionError", "ActionRecord", "AlertBudget", "HostsDenyFile", "NftSetFile",
           "PlaybookSet", "Preview", "Queue", "QueueItem", "ResponseEngine", "ResponseFiles",
           "Suppression", "SuppressionBook", "Webhook", "build_queue", "load_playbooks",
           "parse_playbooks"]
