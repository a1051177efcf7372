"""moto's server, with DynamoDB requests handled one at a time.

Real DynamoDB applies a conditional write atomically: of two UpdateItems with the same condition,
at most one succeeds. moto 5.2.5 serves requests on threads and checks a condition and writes
the item in separate steps, so two concurrent requests can both pass the check. Reelay's token
refresh lease relies on that atomicity; under moto it was observed to hand the same lease to two
workers in the same second (connect.rs, fifty_concurrent_requests_...), which then both spent the
one refresh token. Serializing DynamoDB requests restores the real service's guarantee; every
other service keeps moto's threads (SQS long polls must not block each other).

Usage: the same arguments as `moto_server` (e.g. `-H 127.0.0.1 -p 5000`).
"""

import sys
import threading

from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_dynamodb = threading.Lock()
_call_action = DynamoHandler.call_action


def _serialized_call_action(self):
    with _dynamodb:
        return _call_action(self)


DynamoHandler.call_action = _serialized_call_action

if __name__ == "__main__":
    sys.exit(main())
