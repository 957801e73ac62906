"""The runtime side of each lifecycle verb, one module per verb (youki's
``container/``): ``create``, ``start``, ``kill``, ``delete``, ``status`` (state and
list).  The CLI parses arguments and calls these; they call the lifecycle machine
for the rules and carry out its actions."""
