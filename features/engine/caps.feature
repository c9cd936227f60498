# language: zh-CN
功能: 上限(caps)
  一条规则或一个类别在每个周期(日、周、月、季度、年、累计)内最多给同一账户多少分。
  超出上限的那一笔只计剩余额度,说明里写明上限、已得和本次所计。

  背景:
    假如 村里有以下农户:
      | 户号 | 网格 | 颜色   |
      | H1   | G1   | yellow |
    并且 村里有以下村民:
      | 编号 | 户号 | 党员 |
      | M1   | H1   | 是   |
    并且 规则文件如下:
      """
      point_types:
        - {key: work, name: 零基积分, holder: person, step: 0.5, period: year, year_end: {policy: reset}}
      event_types:
        - {key: signin, name: 签到, subject: person}
        - {key: lesson, name: 党课, subject: person}
        - {key: study, name: 学习, subject: person}
      categories:
        - key: learning
          name: 学习教育
          point_type: work
          caps:
            - {window: week, max: 6}
      rules:
        - id: S1
          name: 主题党日签到
          point_type: work
          event: signin
          points: {fixed: 2}
          caps:
            - {window: day, max: 3}
            - {window: month, max: 5}
        - id: L1
          name: 参加党课
          point_type: work
          event: lesson
          category: learning
          points: {fixed: 4}
        - id: L2
          name: 自学
          point_type: work
          event: study
          category: learning
          points: {fixed: 1.5}
      """

  场景: 规则的月上限:超出的一笔只计剩余额度,下个月重新计算
    当 逐条录入以下事件:
      | 编号 | 类型   | 时间             | 村民 |
      | e1   | signin | 2026-03-02 09:00 | M1   |
      | e2   | signin | 2026-03-09 09:00 | M1   |
      | e3   | signin | 2026-03-16 09:00 | M1   |
      | e4   | signin | 2026-03-23 09:00 | M1   |
      | e5   | signin | 2026-04-06 09:00 | M1   |
    那么 事件 e1 按规则 S1 记 2 分
    并且 事件 e2 按规则 S1 记 2 分
    并且 事件 e3 按规则 S1 记 1 分,说明为:
      """
      基础分 +2
      S1月上限 5,已得 4,本次计 +1
      """
    并且 事件 e3 按规则 S1 的英文说明为:
      """
      base points +2
      S1 month cap 5, 4 already, this time +1
      """
    并且 事件 e4 按规则 S1 未计分,原因是“S1月上限 5,已得 5,本次计 0”
    并且 事件 e4 的结果为“未计分”
    并且 事件 e5 按规则 S1 记 2 分
    并且 M1 的 work 在 2026-03 的得分为 5
    并且 M1 的 work 在 2026-04 的得分为 2
    并且 M1 的 work 余额为 7

  场景: 规则的日上限与月上限同时起作用
    当 录入以下事件:
      | 编号 | 类型   | 时间             | 村民 |
      | d1   | signin | 2026-05-04 09:00 | M1   |
      | d2   | signin | 2026-05-04 15:00 | M1   |
      | d3   | signin | 2026-05-05 09:00 | M1   |
    那么 事件 d1 按规则 S1 记 2 分
    并且 事件 d2 按规则 S1 记 1 分
    并且 事件 d3 按规则 S1 记 2 分
    并且 M1 的 work 在 2026-05 的得分为 5

  场景: 类别的周上限由同类别的多条规则共用
    当 录入以下事件:
      | 编号 | 类型   | 时间             | 村民 |
      | a1   | lesson | 2026-03-02 09:00 | M1   |
      | a2   | study  | 2026-03-03 09:00 | M1   |
      | a3   | study  | 2026-03-04 09:00 | M1   |
      | a4   | lesson | 2026-03-09 09:00 | M1   |
    那么 事件 a1 按规则 L1 记 4 分
    并且 事件 a2 按规则 L2 记 1.5 分
    并且 事件 a3 按规则 L2 记 0.5 分,说明为:
      """
      基础分 +1.5
      学习教育周上限 6,已得 5.5,本次计 +0.5
      """
    并且 事件 a4 按规则 L1 记 4 分
    并且 M1 的 work 余额为 10
