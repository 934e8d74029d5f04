"""The storage engine under the governance domain: engine and sessions, tables,
migrations, group commit and its writer process, fast inserts, ids. The domain modules
beside it (policy, routing, workflow, queues, audit, access, idempotency) use it; nothing
here knows what a recommendation or a queue is for."""
