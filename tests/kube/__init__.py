"""A local stand-in for a Kubernetes cluster: kmock-based API emulator and a "local kubelet".

`emulator` serves the Kubernetes API over real HTTP (the one emulated part of the test stack);
`kubelet` runs the Flink processes that the real Flink CLI deploys into it.
"""
