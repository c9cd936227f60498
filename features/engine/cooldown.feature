# language: zh-CN
功能: 冷却时间(cooldown)
  一条规则为同一账户计分后,N 小时内不再计分;per: household 时按所涉农户分别计算,
  党员同一天可以走访两户,但同一户一天只算一次。

  背景:
    假如 村里有以下农户:
      | 户号 | 网格 | 颜色   |
      | H1   | G1   | yellow |
      | H2   | G1   | yellow |
    并且 村里有以下村民:
      | 编号 | 户号 | 党员 |
      | M1   | H1   | 是   |
      | P2   | H2   | 否   |
    并且 规则文件如下:
      """
      point_types:
        - {key: work, name: 零基积分, holder: person, step: 0.5, period: year}
        - {key: moral, name: 道德积分, holder: household, step: 0.5, period: year}
      event_types:
        - {key: visit, name: 入户走访, subject: person, household: true}
        - {key: snow, name: 扫雪, subject: person}
      rules:
        - id: V1
          name: 走访联系户
          point_type: work
          event: visit
          points: {fixed: 1}
          cooldown: {hours: 24, per: household}
        - id: W1
          name: 清扫公共场所积雪
          point_type: moral
          event: snow
          points: {fixed: 1}
          cooldown: {hours: 24}
      """

  场景: 同一账户 24 小时内只计一次,满 24 小时再计
    当 录入以下事件:
      | 编号 | 类型 | 时间             | 村民 |
      | s1   | snow | 2026-01-05 09:00 | P2   |
      | s2   | snow | 2026-01-05 17:00 | P2   |
      | s3   | snow | 2026-01-06 08:59 | P2   |
      | s4   | snow | 2026-01-06 09:00 | P2   |
    那么 事件 s1 按规则 W1 记 1 分
    并且 事件 s2 按规则 W1 未计分,原因是“24 小时内已计过,本次不计”
    并且 事件 s3 的结果为“未计分”
    并且 事件 s4 按规则 W1 记 1 分
    并且 H2 的 moral 余额为 2

  场景: 按户冷却:同一天走访两户都算,同一户再访不算
    当 录入以下事件:
      | 编号 | 类型  | 时间             | 村民 | 农户 |
      | v1   | visit | 2026-02-10 09:00 | M1   | H1   |
      | v2   | visit | 2026-02-10 10:00 | M1   | H2   |
      | v3   | visit | 2026-02-10 16:00 | M1   | H1   |
    那么 事件 v1 按规则 V1 记 1 分
    并且 事件 v2 按规则 V1 记 1 分
    并且 事件 v3 按规则 V1 未计分,原因是“24 小时内已计过,本次不计”
    并且 M1 的 work 余额为 2

  场景: 冷却时间跨批次有效,补录的更早记录也不重复计分
    假如 已录入以下事件:
      | 编号 | 类型 | 时间             | 村民 |
      | s1   | snow | 2026-01-05 12:00 | P2   |
    当 逐条录入以下事件:
      | 编号 | 类型 | 时间             | 村民 |
      | s2   | snow | 2026-01-05 18:00 | P2   |
      | s0   | snow | 2026-01-05 08:00 | P2   |
    那么 事件 s2 的结果为“未计分”
    并且 事件 s0 的结果为“未计分”
    并且 H2 的 moral 余额为 1
