"""The local Kubernetes cluster: the real control plane and our kubelet.

`controlplane` starts real etcd, kube-apiserver, kube-controller-manager and kube-scheduler (built from the
Kubernetes Go modules by tools/kube-local); `kubelet` + `node` are the one part that is ours — they run, as
local processes in their own network namespaces, the pods the scheduler binds to the local node.
"""
