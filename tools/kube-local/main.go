// Command kube-local runs the real Kubernetes control plane from one binary, busybox style:
//
//	kube-local etcd --data-dir DIR --client-port N --peer-port N
//	kube-local apiserver|controller-manager|scheduler|kubectl  <the component's own flags>
//	kube-local pki --dir DIR --node NAME --ip IP[,IP…] --dns NAME[,NAME…]
//
// Called through a link named `kubectl`, it is kubectl (`.kube-local/bin/kubectl`).
//
// Each component is the upstream command (k8s.io/kubernetes/cmd/...), linked once.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	_ "time/tzdata" // CronJob time zones, as upstream kube-apiserver/controller-manager do

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

const usage = "usage: kube-local etcd|apiserver|controller-manager|scheduler|kubectl|pki|version [flags]"

func main() {
	if filepath.Base(os.Args[0]) == "kubectl" {
		runKubectl()
	}
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	sub, rest := os.Args[1], os.Args[2:]
	// Upstream commands parse os.Args[1:]: drop the subcommand so their flags are what they see.
	os.Args = append([]string{"kube-local-" + sub}, rest...)
	switch sub {
	case "etcd":
		os.Exit(runEtcd(rest))
	case "apiserver":
		os.Exit(cli.Run(apiserver.NewAPIServerCommand()))
	case "controller-manager":
		os.Exit(cli.Run(controllermanager.NewControllerManagerCommand()))
	case "scheduler":
		os.Exit(cli.Run(scheduler.NewSchedulerCommand()))
	case "kubectl":
		runKubectl()
	case "pki":
		os.Exit(runPKI(rest))
	case "version":
		fmt.Println(kubeVersion())
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
}
