"""The teacher: a privileged planner, the Chain-of-Causation labeler, and the data factory.

Modules: decisions (the CoC decision taxonomy and the planner's result types), planner (PDM-Closed style
privileged planner, registered as the `teacher` policy), reasoning (ChainOfCausation records, `label_moment`),
texts (CoC sentence realisation), keyframes (keyframe detection over the 10 Hz meta-actions of
`eval.metrics.meta_actions`), attribution (counterfactual critical components), scene (what the ego saw and
where things are on its route), qa (scene question-answer pairs), datagen (closed-loop data generation).
"""
