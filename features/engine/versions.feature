# language: zh-CN
功能: 规则版本(versions)
  发布规则文件即生成一个版本(内容哈希),自生效日期起适用;事件按其发生当天生效的版本计分;
  已记入的分值不因新版本而改变;有任何错误的规则文件不会发布,现行规则不变。

  背景:
    假如 村里有以下农户:
      | 户号 | 网格 | 颜色   |
      | H1   | G1   | yellow |
    并且 村里有以下村民:
      | 编号 | 户号 | 党员 |
      | P1   | H1   | 否   |
    并且 规则文件如下:
      """
      point_types:
        - {key: moral, name: 道德积分, holder: household, step: 0.5, period: year}
      event_types:
        - {key: snow, name: 扫雪, subject: person}
      rules:
        - {id: W1, name: 清扫公共场所积雪, point_type: moral, event: snow, points: {fixed: 1}}
      """

  场景: 事件按发生当天生效的版本计分,已记入的不变
    假如 已录入以下事件:
      | 编号 | 类型 | 时间             | 村民 |
      | s1   | snow | 2026-02-01 09:00 | P1   |
    当 自 2026-07-01 起发布规则文件:
      """
      point_types:
        - {key: moral, name: 道德积分, holder: household, step: 0.5, period: year}
      event_types:
        - {key: snow, name: 扫雪, subject: person}
      rules:
        - {id: W1, name: 清扫公共场所积雪, point_type: moral, event: snow, points: {fixed: 2}}
      """
    并且 录入以下事件:
      | 编号 | 类型 | 时间             | 村民 |
      | s2   | snow | 2026-06-30 23:30 | P1   |
      | s3   | snow | 2026-07-01 00:30 | P1   |
    那么 已发布的规则版本共 2 个
    并且 第 2 版规则的版本号是规则文件内容的哈希
    并且 事件 s1 按规则 W1 记 1 分
    并且 事件 s1 按规则 W1 的记录由第 1 版规则计分
    并且 事件 s2 按规则 W1 记 1 分
    并且 事件 s2 按规则 W1 的记录由第 1 版规则计分
    并且 事件 s3 按规则 W1 记 2 分
    并且 事件 s3 按规则 W1 的记录由第 2 版规则计分
    并且 H1 的 moral 余额为 4

  场景: 有错误的规则文件被拒绝,逐条列出位置,现行规则不变
    当 自 2026-07-01 起发布规则文件:
      """
      point_types:
        - {key: moral, name: 道德积分, holder: household, step: 0.5, period: year}
      event_types:
        - {key: snow, name: 扫雪, subject: person}
      rules:
        - id: W1
          name: 清扫公共场所积雪
          point_type: morals
          event: snow
          points: {fixed: 5}
        - id: W1
          name: 清扫积雪(重复)
          point_type: moral
          event: snow
          points: {fixed: 0.25}
      """
    那么 发布被拒绝,问题为:
      """
      rules.yaml:8:17: 未定义的积分类型 “morals”;已定义:moral。检查拼写,或先在上面定义它
      rules.yaml:11:9: 编号 “W1” 重复,第一次出现在第 6 行
      rules.yaml:15:13: 分值 0.25 不是步长 0.5 的整数倍
      """
    并且 英文问题为:
      """
      rules.yaml:8:17: unknown point type 'morals'; defined: moral. Check the spelling, or define it first
      rules.yaml:11:9: id 'W1' is used twice; first at line 6
      rules.yaml:15:13: amount 0.25 is not a multiple of the step 0.5
      """
    并且 已发布的规则版本共 1 个
    当 录入以下事件:
      | 编号 | 类型 | 时间             | 村民 |
      | s1   | snow | 2026-08-01 09:00 | P1   |
    那么 事件 s1 按规则 W1 记 1 分
    并且 事件 s1 按规则 W1 的记录由第 1 版规则计分

  场景: YAML 语法错误指出行列
    当 自 2026-07-01 起发布规则文件:
      """
      point_types:
        - {key: moral, name: 道德积分, holder: household
      rules: []
      """
    那么 发布被拒绝,问题为:
      """
      rules.yaml:3:6: 第 2 行开始的花括号 { 没有配对的 },或其中两项之间缺少逗号;请补上 } 或逗号
      """
    并且 已发布的规则版本共 1 个

  场景: 第一个版本生效之前发生的事件无法计分
    当 录入以下事件:
      | 编号 | 类型 | 时间             | 村民 |
      | s0   | snow | 2025-12-31 23:00 | P1   |
    那么 事件 s0 被退回,提示:
      """
      s0 [occurred_at]: 2025-12-31 时没有生效的规则版本
      s0 [occurred_at]: no rules version was in force on 2025-12-31
      """
