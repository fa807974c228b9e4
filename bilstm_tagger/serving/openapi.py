"""The OpenAPI 3.1 description of ``tagger serve``'s API, which ``GET /openapi.json`` answers."""

from __future__ import annotations

from bilstm_tagger.serving.requests import MAX_NBEST
from bilstm_tagger.version import __version__


def openapi(max_body_bytes: int, model_names: list[str], locked: bool) -> dict:
    """The description of a server with these models; ``locked``: it takes an API key."""
    error = {
        "description": "refused",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    record = {"$ref": "#/components/schemas/Record"}
    tag = {
        "summary": "Tag raw texts or pre-tokenised sentences",
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TagRequest"}}},
        },
        "responses": {
            "200": {
                "description": "The record of `text`, or a list of records, one per text or sentence: what "
                "`tagger tag --format jsonl` writes. The X-Model-Digest header names the model that tagged it.",
                "content": {"application/json": {"schema": {"oneOf": [record, {"type": "array", "items": record}]}}},
            },
            "400": error,
            "401": {**error, "description": "no API key, or a wrong one"},
            "404": {**error, "description": "no model of that name"},
            "408": error,
            "413": {**error, "description": f"the body is over {max_body_bytes} bytes"},
            "422": error,
            "503": {**error, "description": "the model is still loading"},
        },
    }
    paths: dict = {
        "/models/{name}/tag": {
            "post": {
                **tag,
                "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"enum": model_names}}],
            }
        },
        "/health": {
            "get": {
                "summary": "Whether the server is alive",
                "responses": {"200": {"description": '{"status": "ok"}'}},
                "security": [],
            }
        },
        "/ready": {
            "get": {
                "summary": "Whether every model is loaded",
                "responses": {"200": {"description": "ready"}, "503": {"description": "a model is loading"}},
            }
        },
        "/info": {
            "get": {
                "summary": "The models: name, engine, tags, tag scheme, digest; the package's version",
                "responses": {"200": {"description": "model information"}},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Requests, latency, batch sizes, tokens, queue depth, model loads (Prometheus text format)",
                "responses": {"200": {"description": "text/plain; version=0.0.4"}},
            }
        },
        "/admin/reload": {
            "post": {
                "summary": "Load every model again; switch to each once it is loaded (as SIGHUP does)",
                "responses": {
                    "200": {"description": "every model reloaded"},
                    "202": {"description": "the reload was handed to every server process (--workers above 1)"},
                    "500": {"description": "a model failed to load: the old one still serves"},
                },
            }
        },
    }
    if len(model_names) == 1:
        paths["/tag"] = {"post": tag}
    description: dict = {
        "openapi": "3.1.0",
        "info": {
            "title": "bilstm-tagger",
            "version": __version__,
            "description": "Sequence tagging (NER, part of speech) over HTTP.",
        },
        "paths": paths,
        "components": {
            "schemas": {
                "TagRequest": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "text": {"type": "string", "description": "One raw text, split into sentences and tokens."},
                        "texts": {"type": "array", "items": {"type": "string"}},
                        "sentences": {
                            "type": "array",
                            "items": {"type": "array", "items": {"type": "string", "minLength": 1}},
                        },
                        "nbest": {"type": "integer", "minimum": 0, "maximum": MAX_NBEST, "default": 0},
                        "min_confidence": {"type": "number", "minimum": 0, "maximum": 1, "default": 0},
                        "document": {
                            "type": "boolean",
                            "default": False,
                            "description": "The texts or sentences are one document, which a model with document "
                            "context reads together; otherwise each text is a document and each sentence alone.",
                        },
                    },
                    "oneOf": [{"required": ["text"]}, {"required": ["texts"]}, {"required": ["sentences"]}],
                },
                "Record": {
                    "type": "object",
                    "description": "text, sentences (start, end, tokens with text, start, end, tag, confidence; nbest), entities (start, end, type, text, confidence); offsets in code points.",
                    "properties": {
                        "text": {"type": "string"},
                        "sentences": {"type": "array"},
                        "entities": {"type": "array"},
                    },
                },
                "Error": {"type": "object", "properties": {"error": {"type": "string"}}},
            },
        },
    }
    if locked:
        description["components"]["securitySchemes"] = {"apiKey": {"type": "http", "scheme": "bearer"}}
        description["security"] = [{"apiKey": []}]
    return description
