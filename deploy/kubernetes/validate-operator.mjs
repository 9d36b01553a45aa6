// Validates the Prometheus Operator objects of a rendered overlay (JSON
// lines on standard input: one object each) against the operator's CRD
// schemas, as compiled by @kubernetes-models/prometheus-operator (pinned
// in package-lock.json). Those schemas, like the CRDs, allow fields they
// do not name: kubernetes-validate's strict mode has no counterpart here.
import { createInterface } from "node:readline";

import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";

const models = { PrometheusRule, ServiceMonitor };
let checked = 0;
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const object = JSON.parse(line);
  const Model = models[object.kind];
  if (!Model) throw new Error(`no schema for ${object.apiVersion} ${object.kind}`);
  new Model(object).validate();
  checked += 1;
}
console.log(`ok  ${checked} Prometheus Operator objects valid against the operator's CRD schemas`);
