"""Run ``python -m sap_llm_core.training <model>`` where the compute is, and get the result back.

``subprocess`` (local deployment): ``dg.PipesSubprocessClient`` on this machine's CPU.
``k8s`` (production): dagster-k8s ``PipesK8sClient`` with the pod from :mod:`k8s_pod`. Both speak
Dagster Pipes, so the asset code is the same: it receives the materialisation (metrics, checkpoint
location) and the trainer's full result as a custom message.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import dagster as dg
from pydantic import Field

from orchestration.launchers.k8s_pod import (
    SECRET_ENV,
    K8sPodConfig,
    pod_parts,
    pod_training_config,
    training_command,
)
from orchestration.launchers.pipes_reader import WholeLineTempFileMessageReader
from sap_llm_core.settings import PROJECT_ROOT


@dataclass
class TrainingRun:
    """What came back from the training process."""

    result: dict[str, Any]
    materialization: dg.MaterializeResult | None


class TrainingLauncherResource(dg.ConfigurableResource):
    mode: Literal["subprocess", "k8s"] = "subprocess"
    python: str = Field(default=sys.executable, description="Interpreter for subprocess mode.")
    load_incluster_config: bool | None = None
    kubeconfig_file: str | None = None

    def launch(
        self,
        context: dg.AssetExecutionContext,
        model: str,
        config: dict[str, Any],
        env: dict[str, str] | None = None,
        pod: K8sPodConfig | None = None,
        extras: dict[str, Any] | None = None,
    ) -> TrainingRun:
        if self.mode == "subprocess":
            invocation = self._run_subprocess(context, model, config, env or {}, extras)
        elif self.mode == "k8s":
            invocation = self._run_k8s(context, model, config, env or {}, pod or K8sPodConfig(), extras)
        else:  # pragma: no cover - pydantic rejects other values
            raise ValueError(self.mode)
        messages = invocation.get_custom_messages()
        if not messages:
            raise dg.Failure(f"{model} training finished without reporting a result through Pipes")
        results = invocation.get_results()
        materialization = next((r for r in results if isinstance(r, dg.MaterializeResult)), None)
        return TrainingRun(result=messages[-1], materialization=materialization)

    def _run_subprocess(self, context, model, config, env, extras):
        with tempfile.TemporaryDirectory(prefix=f"{model}-config-") as tmp:
            config_path = Path(tmp) / "config.json"
            config_path.write_text(json.dumps(config, indent=2, sort_keys=True), encoding="utf-8")
            command = [self.python, "-m", "sap_llm_core.training", model, "--config", str(config_path)]
            client = dg.PipesSubprocessClient(
                cwd=str(PROJECT_ROOT), message_reader=WholeLineTempFileMessageReader()
            )
            return client.run(
                context=context,
                command=command,
                env={"PYTHONPATH": str(PROJECT_ROOT), "HF_HUB_OFFLINE": "1", **env},
                extras=extras,
            )

    def _run_k8s(self, context, model, config, env, pod, extras):
        from dagster_k8s import PipesK8sClient

        meta, spec = pod_parts(pod)
        # In the pod, locations and secrets come from the Secret (see pod_parts), not the launcher's env.
        env = {k: v for k, v in env.items() if k not in SECRET_ENV}
        client = PipesK8sClient(
            load_incluster_config=self.load_incluster_config, kubeconfig_file=self.kubeconfig_file
        )
        return client.run(
            context=context,
            namespace=pod.namespace,
            command=training_command(
                model, json.dumps(pod_training_config(model, config, pod), sort_keys=True), pod.nproc_per_node
            ),
            env={"HF_HUB_OFFLINE": "1", **env},
            base_pod_meta=meta,
            base_pod_spec=spec,
            extras=extras,
        )
