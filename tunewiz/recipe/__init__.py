"""The article's edits (steps 2-4) as pure functions over protobuf messages."""
