"""Generated protobuf and gRPC modules (do not edit; see scripts/generate_protos.sh)."""
