"""A job's states, as the server names them. A copy: the service's core/states.py is the source, and this
package must install without the server; tests/client/test_copies.py fails if the two drift apart."""

STATUSES = ("queued", "running", "cancelling", "succeeded", "failed", "cancelled")
TERMINAL = ("succeeded", "failed", "cancelled")  # a job in one of these never changes again
