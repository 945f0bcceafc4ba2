"""The field artefacts hang together: the collector config's pipelines use what it defines and
listen on localhost only; the SAM example wires the layer the build script produces, with the
wrapper path and exporter names the code knows; the example handler runs."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import yaml

from collectors.layer import build as layer_build
from lifecycle_trace.runtime import telemetry

ROOT = Path(__file__).resolve().parents[2]
COLLECTOR = ROOT / "collectors" / "otel" / "collector.yaml"
SAM = ROOT / "examples" / "sam" / "template.yaml"


class CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub, ...) kept as {"Tag": value}."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict:
    if isinstance(node, yaml.ScalarNode):
        value: object = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node)
    else:
        value = loader.construct_mapping(node)
    return {suffix: value}


CloudFormationLoader.add_multi_constructor("!", _tag)


def test_collector_pipelines_use_defined_components_only() -> None:
    config = yaml.safe_load(COLLECTOR.read_text())
    service = config["service"]
    assert set(service["extensions"]) <= set(config["extensions"])
    for name, pipeline in service["pipelines"].items():
        for kind in ("receivers", "processors", "exporters"):
            assert set(pipeline.get(kind, [])) <= set(config.get(kind, {})), (name, kind)
    assert set(service["pipelines"]) == {"traces", "metrics"}
    assert {"otlp/tempo", "awsxray"} <= set(service["pipelines"]["traces"]["exporters"])
    assert service["pipelines"]["metrics"]["exporters"] == ["prometheusremotewrite"]
    # every component defined is used (no dead config to mislead a reader)
    used = {c for p in service["pipelines"].values() for k in p.values() for c in k}
    assert used | set(service["extensions"]) == set(config["receivers"]) | set(
        config["exporters"]
    ) | set(config["extensions"]) | set(config.get("processors", {}))


def test_collector_listens_on_localhost_and_reads_endpoints_from_the_environment() -> None:
    config = yaml.safe_load(COLLECTOR.read_text())
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "localhost:4317"
    assert protocols["http"]["endpoint"] == "localhost:4318"
    text = COLLECTOR.read_text()
    variables = set(re.findall(r"\$\{env:(\w+)\}", text))
    assert variables == {"AWS_REGION", "LCTRACE_TEMPO_ENDPOINT", "LCTRACE_TEMPO_AUTHORIZATION",
                         "LCTRACE_PROMETHEUS_REMOTE_WRITE_URL"}  # fmt: skip
    indexed = config["exporters"]["awsxray"]["indexed_attributes"]
    from lifecycle_trace import schema

    assert set(indexed) <= {schema.ATTR_COLDSTART, schema.ATTR_TRIGGER, schema.ATTR_OUTCOME,
                            schema.ATTR_STUCK_KIND}  # fmt: skip


def test_sam_example_wires_the_layer_and_the_wrapper() -> None:
    template = yaml.load(SAM.read_text(), Loader=CloudFormationLoader)  # noqa: S506 - safe subclass
    resources = template["Resources"]
    layer = resources["LctraceLayer"]["Properties"]
    built = (SAM.parent / layer["ContentUri"]).resolve()
    assert built == (ROOT / "dist" / "lctrace-layer.zip").resolve()
    assert built == layer_build.ROOT / "dist" / "lctrace-layer.zip"  # build.py's default --out
    function = resources["TracedFunction"]["Properties"]
    assert function["Layers"] == [{"Ref": "LctraceLayer"}]
    variables = function["Environment"]["Variables"]
    assert variables["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/lctrace-wrapper"
    assert variables["LCTRACE_EXPORTER"] == {"Ref": "Exporters"}
    for choice in template["Parameters"]["Exporters"]["AllowedValues"]:
        assert set(choice.split(",")) <= set(telemetry.EXPORTERS), choice
    # the runtime carries a Python the wrapper can use, matching the layer's runtimes
    assert function["Runtime"] in layer["CompatibleRuntimes"]
    assert re.fullmatch(r"python3\.(1[1-9])", function["Runtime"])


def test_sam_example_handler_answers() -> None:
    module, handler = "app", "handler"
    spec = importlib.util.spec_from_file_location(module, SAM.parent / "src" / f"{module}.py")
    assert spec and spec.loader
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    answer = getattr(app, handler)({"rawPath": "/hello"}, None)
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"])["path"] == "/hello"
