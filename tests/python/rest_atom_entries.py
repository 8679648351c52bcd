"""Reads an Atom feed from splunkd the way `| rest` and Splunk's Python tooling do, with the
Atom reader of Splunk's Python SDK (`splunklib.data.load`), not this project's code.

Usage: rest_atom_entries.py < feed.xml
Prints one JSON object: {"total": <opensearch:totalResults>, "messages": [...],
"entries": {<entry title>: {<key>: <value>, ...}, ...}}.
"""

import json
import sys

import splunklib.data as data


def as_list(v):
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def main():
    feed = data.load(sys.stdin.read())["feed"]
    entries = {}
    for entry in as_list(feed.get("entry")):
        content = entry["content"]
        # The reader keeps the content element's `type` attribute beside the fields.
        entries[entry["title"]] = {k: v for k, v in content.items() if k != "type"}
    messages = feed.get("messages") or {}
    print(
        json.dumps(
            {
                "total": int(feed["totalResults"]),
                "messages": [str(m) for m in as_list(messages.get("msg"))] if isinstance(messages, dict) else [],
                "entries": entries,
            }
        )
    )


if __name__ == "__main__":
    main()
