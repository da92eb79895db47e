"""What an operator and a monitoring system see of the service itself:
versions, system information, configuration, health, plugins and metrics."""
