"""The teacher: a privileged planner, the Chain-of-Causation labeler, and the data factory.

Modules: decisions (the CoC decision taxonomy and the planner's result types), planner (PDM-Closed style
privileged planner, registered as the `teacher` policy), reasoning (ChainOfCausation records and text),
keyframes (meta-actions at 10 Hz and keyframe detection), attribution (counterfactual critical components),
qa (scene question-answer pairs), datagen (closed-loop data generation).
"""
