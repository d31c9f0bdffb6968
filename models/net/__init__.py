"""The GrooVAE network: configuration, modules, losses, input transforms, the fast inference kernels, the sampling prior and attribute directions."""
