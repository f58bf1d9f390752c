"""The simulated Wangwang / Dongdong gateway and the traffic of a demo shop."""
