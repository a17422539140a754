// Pins the Gateway API release whose CRDs the tests install in the test control plane:
// scripts/gateway-api-crds.sh downloads this module and reads config/crd/standard from the
// module cache. Nothing imports it.
module certkeeper.local/gatewayapi

go 1.26.0

require sigs.k8s.io/gateway-api v1.4.0
