#!/usr/bin/env bash
# ELako Chat's API with curl: register, get a token, open the event stream, send, mark read,
# long-poll. python3 only picks fields out of the JSON answers.
#
#   bash examples/curl.sh [http://localhost:8000]
set -euo pipefail
B=${1:-http://localhost:8000}
B=${B%/}
PASSWORD='correct horse battery'
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)'"$1"')'; }
json() { curl -sS --fail-with-body -H 'Content-Type: application/json' "$@"; }

sign_up() {  # role name -> prints "id token"
  local email="$1-$RANDOM$RANDOM@example.ph" id token
  id=$(json "$B/api/auth/register" \
    -d "{\"role\":\"$1\",\"name\":\"$2\",\"email\":\"$email\",\"password\":\"$PASSWORD\"}" | field '["id"]')
  token=$(json "$B/api/auth/token" -d "{\"email\":\"$email\",\"password\":\"$PASSWORD\"}" \
    | field '["access_token"]')
  echo "registered $1 $2 ($email) and got a token" >&2
  echo "$id $token"
}

read -r _ CUSTOMER < <(sign_up customer 'Maria Santos')
read -r STORE_ID STORE < <(sign_up store "Aling Nena's Store")

# Both event streams: -N prints each event as it arrives.
STORE_EVENTS=$(mktemp) CUSTOMER_EVENTS=$(mktemp)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -f "$STORE_EVENTS" "$CUSTOMER_EVENTS"' EXIT
curl -sSN "$B/api/events" -H "Authorization: Bearer $STORE" > "$STORE_EVENTS" &
curl -sSN "$B/api/events" -H "Authorization: Bearer $CUSTOMER" > "$CUSTOMER_EVENTS" &
for file in "$STORE_EVENTS" "$CUSTOMER_EVENTS"; do  # live at their first bytes
  for _ in $(seq 100); do [ -s "$file" ] && break; sleep 0.1; done
  [ -s "$file" ] || { echo "an event stream did not open" >&2; exit 1; }
done
echo "store and customer: event streams open"

CONVERSATION=$(json "$B/api/conversations" -H "Authorization: Bearer $CUSTOMER" \
  -d "{\"store_id\":\"$STORE_ID\"}" | field '["id"]')
SEQ=$(json "$B/api/conversations/$CONVERSATION/messages" -H "Authorization: Bearer $CUSTOMER" \
  -d '{"body":"May stock pa po ba ng Milo?","client_id":"example-1"}' | field '["seq"]')
echo "customer: sent message $SEQ"

wait_for_message() {  # file: the first message event's lines (event, data, id)
  for _ in $(seq 100); do grep -q '^event:message' "$1" && break; sleep 0.1; done
  grep -A2 -m1 '^event:message' "$1"
}
BODY=$(wait_for_message "$STORE_EVENTS" | sed -n 's/^data://p' | field '["message"]["body"]')
echo "store: received message: $BODY"
# The customer's own copy: its id is where the customer's events stand now.
CURSOR=$(wait_for_message "$CUSTOMER_EVENTS" | sed -n 's/^id://p')

UPDATED=$(curl -sS --fail-with-body -X PATCH "$B/api/conversations/$CONVERSATION/read" \
  -H "Authorization: Bearer $STORE" | field '["updated"]')
echo "store: marked $UPDATED message(s) read"

# A client that cannot hold a stream open asks for what came after the last id it has.
for _ in 1 2 3 4 5; do
  POLLED=$(curl -sS --fail-with-body -G "$B/api/events/poll" -H "Authorization: Bearer $CUSTOMER" \
    --data-urlencode "last_event_id=$CURSOR" --data-urlencode timeout=10)
  CURSOR=$(echo "$POLLED" | field '["last_event_id"]')
  UP_TO=$(echo "$POLLED" | python3 -c 'import json,sys
print(next((e["data"]["up_to_seq"] for e in json.load(sys.stdin)["events"] if e["type"] == "read"), ""))')
  if [ -n "$UP_TO" ]; then
    echo "customer: long-poll got read up to seq $UP_TO"
    exit 0
  fi
done
echo "customer: no read receipt came" >&2
exit 1
