"""The OpenAPI 3.1 document, generated from the same endpoint declarations as the routes."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, TypeAdapter

from canyu import __version__
from canyu.api.framework import MAX_ID, REGISTRY, Endpoint

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string"},
            },
        }
    },
}
_ERROR_TEXT = {
    400: "请求格式有误",
    401: "缺少或无效的访问令牌",
    403: "没有权限",
    404: "不存在",
    409: "与现有内容冲突",
    413: "请求体过大",
    415: "请求体须为 JSON",
    422: "规则不允许或字段无效",
    429: "操作过于频繁或已锁定",
    503: "服务暂时不可用，可重试",
}
_PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")


def _schema(model: Any, components: dict[str, Any]) -> dict[str, Any]:
    if model is None:
        return {}
    if isinstance(model, dict):
        return model
    adapter = TypeAdapter(model)
    schema = adapter.json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
    for name, definition in schema.pop("$defs", {}).items():
        components[name] = definition
    if isinstance(model, type) and issubclass(model, BaseModel):
        components[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}
    return schema


def _request_schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="validation")
    for name, definition in schema.pop("$defs", {}).items():
        components[name] = definition
    components[model.__name__ + "Body"] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}Body"}


def _operation(ep: Endpoint, components: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": ep.handler.__name__,
        "summary": ep.summary,
        "tags": [ep.tag],
        "responses": {},
    }
    if ep.description:
        op["description"] = ep.description
    params = []
    for name, conv in _PARAM.findall(ep.path):
        params.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID}
                if conv == "int"
                else {"type": "string"},
            }
        )
    if params:
        op["parameters"] = params
    if ep.auth in ("resident", "staff", "optional"):
        op["security"] = [{"bearer": []}] if ep.auth != "optional" else [{"bearer": []}, {}]
    if ep.body is not None:
        op["requestBody"] = {
            "required": False if not ep.body.model_json_schema().get("required") else True,
            "content": {"application/json": {"schema": _request_schema(ep.body, components)}},
        }
    success: dict[str, Any] = {"description": "成功"}
    if ep.response is not None:
        success["content"] = {"application/json": {"schema": _schema(ep.response, components)}}
    op["responses"][str(ep.status)] = success
    codes = set(ep.errors) | {400, 422, 429, 503}
    if ep.auth in ("resident", "staff"):
        codes |= {401, 403}
    if params:
        codes.add(404)
    if ep.method in ("POST", "PUT", "PATCH", "DELETE"):
        codes |= {413, 415}
    for code in sorted(codes):
        op["responses"][str(code)] = {
            "description": _ERROR_TEXT.get(code, "错误"),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    return op


def document() -> dict[str, Any]:
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for ep in REGISTRY:
        path = "/api/v1" + _PARAM.sub(lambda m: "{" + m.group(1) + "}", ep.path)
        paths.setdefault(path, {})[ep.method.lower()] = _operation(ep, components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Canyu (参与) API",
            "version": f"1 ({__version__})",
            "description": "浦东新区公众参与平台 JSON API v1。错误统一为 "
            '{"error": {"code", "message"}}；失败的请求不改变任何数据。',
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
